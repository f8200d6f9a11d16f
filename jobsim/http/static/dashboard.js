// The jobsim dashboard: polls /dashboard/data once a second and updates the page in place.
// Every value is written with textContent (never innerHTML): job types and payloads are text.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";

function setText(id, value) {
  const node = document.getElementById(id);
  const text = String(value);
  if (node.textContent !== text) node.textContent = text;
}

// One card per status, in the order the server lists them (new statuses appear by themselves).
function drawCounts(counts) {
  const box = document.getElementById("counts");
  for (const [status, n] of Object.entries(counts)) {
    if (!document.getElementById("count-" + status)) {
      const card = document.createElement("div");
      card.className = "card";
      const label = document.createElement("div");
      label.className = "label";
      label.textContent = status;
      const value = document.createElement("div");
      value.className = "value";
      value.id = "count-" + status;
      card.append(label, value);
      box.appendChild(card);
    }
    setText("count-" + status, n);
  }
}

function drawThroughput(rates, binSeconds) {
  const svg = document.getElementById("throughput");
  const width = svg.width.baseVal.value, height = svg.height.baseVal.value;
  const top = Math.max(1, ...rates);
  const bar = width / rates.length;
  svg.replaceChildren();
  rates.forEach((rate, i) => {
    const h = (rate / top) * (height - 16);
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", String(i * bar + 1));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("width", String(Math.max(1, bar - 2)));
    rect.setAttribute("height", String(h));
    const title = document.createElementNS(SVG, "title");
    title.textContent = rate.toFixed(2) + " jobs/s";
    rect.appendChild(title);
    svg.appendChild(rect);
  });
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "4");
  label.setAttribute("y", "12");
  label.setAttribute("font-size", "11");
  label.textContent = "max " + top.toFixed(1) + " jobs/s (bins of " + binSeconds + " s)";
  svg.appendChild(label);
}

function drawRecent(jobs) {
  const rows = jobs.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.id = job.id;
    for (const [value, cls] of [
      [job.id, "id"],
      [job.type, "type"],
      [job.status, "status status-" + job.status],
      [job.attempts, "attempts"],
      [job.worker_id ?? "", "worker"],
      [job.payload, "payload"],
    ]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = String(value);
      tr.appendChild(td);
    }
    return tr;
  });
  document.getElementById("recent").replaceChildren(...rows);
}

function show(data) {
  setText("workers-busy", data.busy);
  setText("workers-idle", data.idle);
  setText("queue-depth", data.queue_depth + " / " + data.capacity);
  drawCounts(data.counts);
  const rates = data.throughput;
  setText("rate-now", (rates.length ? rates[rates.length - 1] : 0).toFixed(2));
  setText("window", Math.round((rates.length * data.bin_seconds) / 60));
  drawThroughput(rates, data.bin_seconds);
  drawRecent(data.recent);
  const state = document.getElementById("state");
  state.className = "";
  state.textContent =
    "pool " + data.status + ", " + data.workers + " workers; updated " +
    new Date(data.now * 1000).toLocaleTimeString();
}

async function poll() {
  try {
    const response = await fetch("/dashboard/data", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    show(await response.json());
  } catch (error) {
    const state = document.getElementById("state");
    state.className = "down";
    state.textContent = "service unreachable (" + error.message + "); retrying";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
