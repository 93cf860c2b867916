// fashionlab ui: the charts (uPlot), live updates (server-sent events), the confusion cells, predict.
// No framework, no inline script (the page's Content-Security-Policy allows none): the page's data comes
// as JSON in <script type="application/json" id="page-data">.
"use strict";

const DATA = JSON.parse(document.getElementById("page-data").textContent || "{}");
const WORDS = DATA.words || {};
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"];

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

// ---------- curves ----------

// Series of one chart: for each run (or setting), its training metric (solid) and validation metric (dashed).
class Curves {
  constructor(curves, metric, element) {
    this.metric = metric;
    this.element = element;
    this.series = curves.series;            // [{id, label, rows}]
    this.settings = curves.settings || [];  // [{label, runs}] with repeats: mean ± sd bands
    this.plot = null;
    this.draw();
  }

  byId(id) {
    return this.series.find((s) => s.id === id);
  }

  add(id, rows) {
    let found = this.byId(id);
    if (!found) {
      found = {id: id, label: id, rows: []};
      this.series.push(found);
    }
    for (const row of rows) {
      if (!found.rows.some((r) => r.epoch === row.epoch)) found.rows.push(row);
    }
    this.draw();
  }

  points() {
    // how many points the chart draws (the live test counts them)
    return this.series.reduce((n, s) => n + s.rows.filter((r) => r[this.metric] != null).length, 0);
  }

  lines() {
    // [{label, color, dash, values: Map(epoch -> value)}, band pairs]
    const out = [];
    const bands = [];
    const keys = [this.metric, "val_" + this.metric];
    if (this.settings.length) {
      this.settings.forEach((setting, i) => {
        const color = COLORS[i % COLORS.length];
        keys.forEach((key, k) => {
          const stats = new Map();
          for (const id of setting.runs) {
            const s = this.byId(id);
            if (!s) continue;
            for (const row of s.rows) {
              if (row[key] == null) continue;
              if (!stats.has(row.epoch)) stats.set(row.epoch, []);
              stats.get(row.epoch).push(row[key]);
            }
          }
          const mean = new Map(), low = new Map(), high = new Map();
          for (const [epoch, values] of stats) {
            const m = values.reduce((a, b) => a + b, 0) / values.length;
            const sd = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1)) : 0;
            mean.set(epoch, m); low.set(epoch, m - sd); high.set(epoch, m + sd);
          }
          const label = `${setting.label} ${WORDS[key] || key}`;
          const at = out.length;
          out.push({label: label, color: color, dash: k === 1, values: mean});
          out.push({label: label + " −sd", color: color, dash: k === 1, values: low, hidden: true});
          out.push({label: label + " +sd", color: color, dash: k === 1, values: high, hidden: true});
          bands.push([at + 3, at + 2, color]);  // uPlot counts the x series first
        });
      });
    } else {
      this.series.forEach((s, i) => {
        const color = COLORS[i % COLORS.length];
        keys.forEach((key, k) => {
          const values = new Map(s.rows.filter((r) => r[key] != null).map((r) => [r.epoch, r[key]]));
          if (values.size) out.push({label: `${s.label} ${WORDS[key] || key}`, color: color, dash: k === 1, values: values});
        });
      });
    }
    return {lines: out, bands: bands};
  }

  draw() {
    const {lines, bands} = this.lines();
    const epochs = [...new Set(lines.flatMap((l) => [...l.values.keys()]))].sort((a, b) => a - b);
    const data = [epochs, ...lines.map((l) => epochs.map((e) => (l.values.has(e) ? l.values.get(e) : null)))];
    const series = [{label: WORDS.epoch || "epoch"}, ...lines.map((l) => ({
      label: l.label, stroke: l.color, width: l.hidden ? 0 : 2, dash: l.dash ? [6, 4] : undefined,
      points: {show: !l.hidden && epochs.length < 40}, spanGaps: true, show: true,
      value: (u, v) => (v == null ? "–" : v.toFixed(4)),
    }))];
    const opts = {
      width: Math.max(320, this.element.clientWidth || 480), height: 260, series: series,
      bands: bands.map(([a, b, color]) => ({series: [a, b], fill: color + "33"})),
      scales: {x: {time: false}},
      axes: [{label: WORDS.epoch || "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500]},
             {label: WORDS[this.metric] || this.metric}],
      legend: {live: true},
    };
    if (this.plot) this.plot.destroy();
    this.element.textContent = "";
    this.plot = new uPlot(opts, data, this.element);
    const rows = this.plot.root.querySelectorAll(".u-legend .u-series");
    lines.forEach((l, i) => { if (l.hidden && rows[i + 1]) rows[i + 1].hidden = true; });  // a band's edges: no entry
    this.element.dataset.points = String(this.points());
  }
}

const charts = [];
if (DATA.curves) {
  for (const metric of ["loss", "accuracy"]) {
    const el = document.getElementById("chart-" + metric);
    if (el) charts.push(new Curves(DATA.curves, metric, el));
  }
}

// ---------- live ----------

function live(url, onEpochs) {
  const banner = document.getElementById("live");
  const source = new EventSource(url);
  source.addEventListener("epochs", (e) => {
    const event = JSON.parse(e.data);
    onEpochs(event);
    if (banner && event.rows.length) {
      const last = event.rows[event.rows.length - 1];
      banner.hidden = false;
      banner.textContent = format(WORDS.running || "epoch {epoch}", {epoch: last.epoch, epochs: DATA.epochs || "?"});
    }
  });
  source.addEventListener("end", () => {
    source.close();
    if (banner) banner.textContent = WORDS.done || "";
    window.setTimeout(() => window.location.reload(), 800);  // the final page: verdicts, test metrics
  });
  source.addEventListener("changed", () => {
    source.close();
    window.location.reload();
  });
  return source;
}

if (DATA.live === "run") {
  live("/api/live/run/" + encodeURIComponent(DATA.run), (e) => charts.forEach((c) => c.add(e.run, e.rows)));
} else if (DATA.live === "sweep") {
  live("/api/live/sweep/" + encodeURIComponent(DATA.sweep), (e) => charts.forEach((c) => c.add(e.run, e.rows)));
} else if (DATA.live === "runs") {
  live("/api/live/runs", () => {});
}

// ---------- confusion cells ----------

function tile(runId, img, names) {
  const fig = document.createElement("figure");
  const right = img.true === img.predicted;
  fig.className = "tile " + (right ? "right" : "wrong");
  const image = document.createElement("img");
  image.src = `/api/runs/${encodeURIComponent(runId)}/test-image/${img.index}.png`;
  image.alt = "#" + img.index;
  fig.appendChild(image);
  const caption = document.createElement("figcaption");
  const sure = img.confidence == null ? "" : ` ${Math.round(img.confidence * 100)}%`;
  caption.textContent = `${names[img.predicted] ?? img.predicted}${sure}`;
  if (!right && img.p_true != null) caption.appendChild(text("small", ` (${names[img.true] ?? img.true} ${Math.round(img.p_true * 100)}%)`));
  fig.dataset.true = String(img.true);
  fig.dataset.predicted = String(img.predicted);
  fig.appendChild(caption);
  return fig;
}

const confusion = document.getElementById("confusion");
if (confusion) {
  const max = Math.max(...[...confusion.querySelectorAll("td.cell")].map((td) => Number(td.dataset.n)));
  for (const td of confusion.querySelectorAll("td.cell")) {
    const share = max ? Number(td.dataset.n) / max : 0;
    const diagonal = td.classList.contains("diagonal");
    td.style.backgroundColor = diagonal ? `rgba(31, 119, 180, ${share})` : `rgba(214, 39, 40, ${Math.min(1, share * 4)})`;
    if (share > 0.5) td.classList.add("dark");
    const open = () => openCell(td);
    td.addEventListener("click", open);
    td.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") open(); });
  }
}

async function openCell(td) {
  const names = DATA.class_names || [];
  const t = Number(td.dataset.true), p = Number(td.dataset.predicted);
  const section = document.getElementById("cell-images");
  const gallery = document.getElementById("cell-gallery");
  const title = document.getElementById("cell-title");
  for (const other of document.querySelectorAll("td.cell.open")) other.classList.remove("open");
  td.classList.add("open");
  const response = await fetch(`/api/runs/${encodeURIComponent(DATA.run)}/cell?true=${t}&predicted=${p}`);
  const found = await response.json();
  gallery.textContent = "";
  title.textContent = `${names[t]} → ${names[p]}: ${found.count}` + (found.count > found.images.length ? ` (${found.images.length})` : "");
  for (const img of found.images) gallery.appendChild(tile(DATA.run, img, names));
  section.hidden = false;
  section.dataset.true = String(t);
  section.dataset.predicted = String(p);
  section.scrollIntoView({block: "nearest"});
}

// ---------- predict ----------

const drop = document.getElementById("drop");
if (drop) {
  const file = document.getElementById("file");
  const run = () => document.getElementById("predict-run").value;
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter") file.click(); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) predict(`run=${encodeURIComponent(run())}`, e.dataTransfer.files[0]);
  });
  file.addEventListener("change", () => { if (file.files.length) predict(`run=${encodeURIComponent(run())}`, file.files[0]); });
  document.getElementById("predict-go").addEventListener("click", () => {
    const index = document.getElementById("predict-index").value;
    predict(`run=${encodeURIComponent(run())}&index=${encodeURIComponent(index)}`, null);
  });
}

function pixelsUrl(pixels) {
  const h = pixels.length, w = pixels[0].length, scale = Math.max(1, Math.floor(168 / Math.max(h, w)));
  const canvas = document.createElement("canvas");
  canvas.width = w * scale; canvas.height = h * scale;
  const ctx = canvas.getContext("2d");
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = pixels[y][x];
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect(x * scale, y * scale, scale, scale);
  }
  return canvas.toDataURL();
}

async function predict(query, body) {
  const error = document.getElementById("predict-error");
  const section = document.getElementById("prediction");
  error.hidden = true;
  const response = await fetch("/api/predict?" + query, {method: "POST", body: body || undefined,
                                                          headers: body ? {"Content-Type": body.type || "application/octet-stream"} : {}});
  const found = await response.json();
  if (!response.ok) {
    error.textContent = found.error || response.statusText;
    error.hidden = false;
    section.hidden = true;
    return;
  }
  document.getElementById("prediction-image").src = found.pixels ? pixelsUrl(found.pixels) : "";
  const values = found.probabilities || found.scores || {};
  const keys = Object.keys(values);
  const names = found.class_words || keys;
  const answer = document.getElementById("prediction-answer");
  const p = found.probabilities ? values[keys[found.predicted]] : null;
  answer.textContent = format(WORDS.predicted, {name: names[found.predicted], p: p == null ? "" : (p * 100).toFixed(1) + "%"});
  if (found.true != null) {
    answer.appendChild(document.createElement("br"));
    answer.appendChild(text("span", format(WORDS.true, {name: names[found.true]}) + " · " + (found.correct ? WORDS.right : WORDS.wrong),
                            found.correct ? "right" : "wrong"));
  }
  if (found.inverted) answer.appendChild(text("small", " " + WORDS.inverted));
  const rows = document.querySelector("#prediction-bars tbody");
  rows.textContent = "";
  const top = Math.max(...keys.map((k) => Math.abs(values[k])), 1e-9);
  keys.forEach((key, i) => {
    const tr = document.createElement("tr");
    if (i === found.predicted) tr.className = "chosen";
    tr.dataset.class = String(i);
    tr.appendChild(text("th", names[i]));
    const cell = document.createElement("td");
    const bar = document.createElement("div");
    bar.className = "bar";
    const share = found.probabilities ? values[key] : Math.abs(values[key]) / top;
    bar.style.width = `${Math.max(0.5, share * 100)}%`;
    cell.appendChild(bar);
    tr.appendChild(cell);
    tr.appendChild(text("td", found.probabilities ? (values[key] * 100).toFixed(1) + "%" : values[key].toFixed(3), "num"));
    rows.appendChild(tr);
  });
  section.hidden = false;
}

window.fashionlab = {charts: charts};

// ---------- inside the network: a slider over the epochs whose weights the run kept ----------

function insideControls() {
  const box = document.getElementById("inside");
  if (!box) return;
  const epochs = JSON.parse(box.dataset.epochs || "[]");
  const slider = document.getElementById("inside-epoch");
  const label = document.getElementById("inside-epoch-label");
  const index = document.getElementById("inside-index");
  const weights = document.getElementById("inside-weights");
  const image = document.getElementById("inside-image");
  const show = () => {
    const at = epochs[slider ? Number(slider.value) : epochs.length - 1] || {key: "last", label: ""};
    const n = Math.max(0, Math.floor(Number(index.value) || 0));
    if (label) label.textContent = at.label;
    weights.src = `${box.dataset.weights}?epoch=${encodeURIComponent(at.key)}`;
    image.src = `${box.dataset.image}?index=${n}&epoch=${encodeURIComponent(at.key)}`;
  };
  if (slider) slider.addEventListener("change", show);
  if (slider && label) slider.addEventListener("input", () => { label.textContent = (epochs[Number(slider.value)] || {}).label || ""; });
  index.addEventListener("change", show);
}

insideControls();
