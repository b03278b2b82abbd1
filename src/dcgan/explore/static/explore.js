// dcgan explore: the page's logic. Plain JavaScript, no dependencies (a static site's site.js
// brings onnxruntime-web). The view's state lives in the address bar's hash (#g=...&p=...),
// so copying the address shares the view, and opening it restores the grid, the pins and
// every result shown.
"use strict";

const GRID = 16;
const $ = (id) => document.getElementById(id);
let info = null;
let pending = 0;
let state = {};  // g: grid base seed, p: pins, w/m/s/wf: walk, A/B/C: arithmetic, d/dv/ds/dx/df
let walkFrames = [];
let dirFrames = [];
let player = null;

// ---- state <-> address bar ----------------------------------------------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const s = {};
  for (const [k, v] of params) s[k] = v;
  return s;
}

function writeHash() {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, v);
  }
  history.replaceState(null, "", "#" + params.toString());
}

function seedList(text) {
  // "p3" is row 3 of the z file the explorer was started with (--latents), else a seed.
  return String(text || "").split(/[\s,]+/).filter((t) => t !== "")
    .map((t) => (/^p\d+$/.test(t) ? t : Number(t)));
}

// ---- talking to the server, or to site.js ------------------------------------------------
// A static site (dcgan export --out-format site) marks its page data-backend="site": its
// site.js answers the same requests in the browser, G running from the ONNX export.

const SITE = document.body.dataset.backend === "site";

function busy(delta) {
  pending += delta;
  document.body.dataset.busy = String(pending);
}

async function request(path, body) {
  if (SITE) return (await import("./site.js")).answer(path, body);
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function api(path, body) {
  busy(1);
  try {
    const data = await request(path, body);
    $("status").textContent = "";
    return data;
  } catch (e) {
    $("status").textContent = e.message;
    throw e;
  } finally {
    busy(-1);
  }
}

// ---- figures: an image, a caption, a PNG download link --------------------------------------

function figure(src, caption, filename, extra) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = caption;
  img.draggable = true;
  fig.append(img);
  const cap = document.createElement("figcaption");
  cap.append(caption + " ");
  const link = document.createElement("a");
  link.href = src;
  link.download = filename;
  link.textContent = "PNG";
  link.className = "download";
  cap.append(link);
  fig.append(cap);
  if (extra) fig.append(extra);
  return fig;
}

function seedFigure(src, seed) {
  const fig = figure(src, "seed " + seed, "seed" + seed + ".png");
  fig.dataset.seed = seed;
  const img = fig.querySelector("img");
  img.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/plain", String(seed)));
  return fig;
}

// ---- samples and pins ---------------------------------------------------------------------

async function showGrid() {
  const base = Number(state.g || 0);
  const seeds = Array.from({ length: GRID }, (_, i) => base + i);
  const data = await api("/api/samples", { seeds });
  const grid = $("grid");
  grid.replaceChildren(...data.images.map((src, i) => {
    const fig = seedFigure(src, seeds[i]);
    fig.querySelector("img").addEventListener("click", () => pin(seeds[i]));
    return fig;
  }));
  $("grid-seeds").textContent = "seeds " + seeds[0] + "-" + seeds[GRID - 1];
}

async function reroll() {
  state.g = Math.floor(Math.random() * (info.limits.seed_max - GRID));
  writeHash();
  await showGrid();
}

function pins() {
  return seedList(state.p);
}

async function pin(seed) {
  if (!Number.isInteger(seed) || seed < 0 || seed > info.limits.seed_max) {
    $("status").textContent = "a seed lies in [0, " + info.limits.seed_max + "]";
    return;
  }
  if (!pins().includes(seed)) state.p = [...pins(), seed].join(",");
  writeHash();
  await showPins();
}

function unpin(seed) {
  state.p = pins().filter((s) => s !== seed).join(",");
  writeHash();
  showPins();
}

function appendTo(field, seed) {
  const input = $(field);
  input.value = input.type === "number" ? seed : [...seedList(input.value), seed].join(",");
}

async function showPins() {
  const seeds = pins();
  if (seeds.length === 0) {
    $("pinned").replaceChildren();
    return;
  }
  const data = await api("/api/samples", { seeds });
  $("pinned").replaceChildren(...data.images.map((src, i) => {
    const fig = seedFigure(src, seeds[i]);
    const tools = document.createElement("div");
    const targets = [["walk", "walk-seeds"], ["A", "concept-A"], ["B", "concept-B"],
      ["C", "concept-C"], ["dir", "dir-seed"]];
    for (const [label, field] of targets) {
      const button = document.createElement("button");
      button.textContent = label;
      button.title = "add seed " + seeds[i] + " to " + field;
      button.addEventListener("click", () => appendTo(field, seeds[i]));
      tools.append(button);
    }
    const remove = document.createElement("button");
    remove.textContent = "\u00d7";
    remove.title = "unpin";
    remove.addEventListener("click", () => unpin(seeds[i]));
    tools.append(remove);
    fig.append(tools);
    return fig;
  }));
}

// ---- walk ---------------------------------------------------------------------------------

async function runWalk(keepFrame) {
  stopPlay();
  if (keepFrame !== true) state.wf = 0;
  const body = {
    seeds: seedList($("walk-seeds").value),
    mode: $("walk-mode").value,
    steps: Number($("walk-steps").value),
  };
  const data = await api("/api/walk", body);
  walkFrames = data.images;
  Object.assign(state, { w: data.seeds.join(","), m: data.mode, s: body.steps });
  const slider = $("walk-slider");
  slider.max = walkFrames.length - 1;
  slider.disabled = false;
  $("walk-play").disabled = false;
  slider.value = Math.min(Number(state.wf || 0), walkFrames.length - 1);
  showWalkFrame();
}

function showWalkFrame() {
  const i = Number($("walk-slider").value);
  const steps = Number(state.s);
  const seeds = seedList(state.w);
  const k = Math.min(Math.floor(i / steps), seeds.length - 2);
  const t = (i - k * steps) / steps;
  const caption = "seed " + seeds[k] + " \u2192 " + seeds[k + 1] + ", t = " + t.toFixed(2);
  const fig = figure(walkFrames[i], caption, "walk-" + seeds.join("_") + "-" + i + ".png");
  fig.className = "big";
  fig.id = "walk-frame";
  $("walk-view").replaceChildren(fig);
  state.wf = i;
  writeHash();
}

function stopPlay() {
  if (player) clearInterval(player);
  player = null;
  $("walk-play").textContent = "Play";
}

function togglePlay() {
  if (player) return stopPlay();
  $("walk-play").textContent = "Pause";
  player = setInterval(() => {
    const slider = $("walk-slider");
    slider.value = (Number(slider.value) + 1) % walkFrames.length;
    showWalkFrame();
  }, 90);
}

// ---- arithmetic ---------------------------------------------------------------------------

async function runArithmetic() {
  const body = {};
  for (const c of ["A", "B", "C"]) body[c] = seedList($("concept-" + c).value);
  const data = await api("/api/arithmetic", body);
  for (const c of ["A", "B", "C"]) state[c] = data.concepts[c].join(",");
  writeHash();
  const concepts = document.createElement("div");
  for (const [sign, c] of [["", "A"], ["\u2212", "B"], ["+", "C"]]) {
    const row = document.createElement("div");
    row.className = "cards";
    row.append(...data.exemplars[c].map((src, i) => seedFigure(src, data.concepts[c][i])));
    const mean = figure(data.means[c], sign + " mean " + c, "mean-" + c + ".png");
    mean.id = "mean-" + c;
    row.append(mean);
    concepts.append(row);
  }
  const order = [1, 2, 3, 4, 0, 5, 6, 7, 8];  // Y in the centre of its 8 neighbours
  const ys = document.createElement("div");
  ys.className = "grid3";
  ys.append(...order.map((j) => {
    const fig = figure(data.y[j], j === 0 ? "= Y" : "Y \u00b1 " + data.noise, "y-" + j + ".png");
    if (j === 0) {
      fig.className = "centre";
      fig.id = "arith-y";
    }
    return fig;
  }));
  const pixel = figure(data.pixel, "pixel space", "pixel-space.png");
  pixel.id = "arith-pixel";
  const yBox = document.createElement("div");
  yBox.className = "row";
  yBox.append(ys, pixel);  // the pixel-space baseline beside the latent-space result
  $("arith-view").replaceChildren(concepts, yBox);
}

// ---- directions ---------------------------------------------------------------------------

let uploaded = null;  // a direction read from a file: {name, vector}

async function readDirectionFile() {
  const file = $("dir-file").files[0];
  if (!file) return;
  let record;
  try {
    record = JSON.parse(await file.text());
  } catch (e) {
    $("status").textContent = file.name + " is not JSON";
    return;
  }
  const data = await api("/api/direction", { seed: 0, frames: 2, scale: 0, record });
  uploaded = { name: file.name, vector: data.vector };
  const option = new Option("file: " + file.name, "");
  $("dir-name").append(option);
  $("dir-name").value = "";
}

async function runDirection(keepFrame) {
  if (keepFrame !== true) state.df = undefined;
  const body = {
    seed: Number($("dir-seed").value),
    scale: Number($("dir-scale").value),
    frames: Number($("dir-frames").value),
  };
  const name = $("dir-name").value;
  if (name) body.direction = name;
  else if (uploaded) body.vector = uploaded.vector;
  else if (state.dv) body.vector = state.dv.split(",").map(Number);
  else {
    $("status").textContent = "no direction: start with --direction or pick a file";
    return;
  }
  const data = await api("/api/direction", body);
  dirFrames = data.images;
  Object.assign(state, {
    d: name || undefined, dv: name ? undefined : body.vector.join(","),
    ds: data.seed, dx: body.scale, dn: body.frames,
  });
  const slider = $("dir-slider");
  slider.max = dirFrames.length - 1;
  slider.disabled = false;
  slider.value = state.df !== undefined ? Math.min(Number(state.df), dirFrames.length - 1)
    : Math.floor(dirFrames.length / 2);
  slider.dataset.t = JSON.stringify(data.t);
  showDirectionFrame();
}

function showDirectionFrame() {
  const i = Number($("dir-slider").value);
  const t = JSON.parse($("dir-slider").dataset.t)[i];
  const caption = "seed " + state.ds + ", t = " + t;
  const fig = figure(dirFrames[i], caption, "direction-seed" + state.ds + "-" + i + ".png");
  fig.className = "big";
  fig.id = "dir-frame";
  $("dir-view").replaceChildren(fig);
  state.df = i;
  writeHash();
}

// ---- wiring and restoring -----------------------------------------------------------------

function wireDropZones() {
  for (const zone of document.querySelectorAll(".drop")) {
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      const seed = Number(e.dataTransfer.getData("text/plain"));
      if (Number.isInteger(seed)) appendTo(zone.dataset.field, seed);
    });
  }
}

function wire() {
  $("reroll").addEventListener("click", reroll);
  $("pin-add").addEventListener("click", () => pin(Number($("pin-seed").value)));
  $("walk-run").addEventListener("click", runWalk);
  $("walk-play").addEventListener("click", togglePlay);
  $("walk-slider").addEventListener("input", showWalkFrame);
  $("arith-run").addEventListener("click", runArithmetic);
  $("dir-file").addEventListener("change", readDirectionFile);
  $("dir-run").addEventListener("click", runDirection);
  $("dir-slider").addEventListener("input", showDirectionFrame);
  $("copy-link").addEventListener("click", () => navigator.clipboard.writeText(location.href));
  wireDropZones();
}

async function restore() {
  state = readHash();
  const jobs = [showGrid(), showPins()];
  if (state.w) {
    $("walk-seeds").value = state.w;
    if (state.m) $("walk-mode").value = state.m;
    if (state.s) $("walk-steps").value = state.s;
    jobs.push(runWalk(true));
  }
  if (state.A && state.B && state.C) {
    for (const c of ["A", "B", "C"]) $("concept-" + c).value = state[c];
    jobs.push(runArithmetic());
  }
  if (state.ds !== undefined && (state.d || state.dv)) {
    $("dir-seed").value = state.ds;
    if (state.dx) $("dir-scale").value = state.dx;
    if (state.dn) $("dir-frames").value = state.dn;
    $("dir-name").value = state.d || "";
    jobs.push(runDirection(true));
  }
  await Promise.allSettled(jobs);
}

async function main() {
  wire();
  info = await api("/api/info");
  const bn = info.bn === "batch" ? "reference-batch BatchNorm" : "running BatchNorm";
  $("info").textContent = info.checkpoint + " (step " + info.step + "): " + info.size +
    " px, z ~ " + info.z_dist + " in " + info.nz + " dimensions, " + bn +
    (SITE ? "; in this browser (onnxruntime-web), seeds 0-" + info.limits.seed_max : "") +
    (info.latents ? "; z file: walks and arithmetic take p0-p" + (info.latents - 1) : "");
  for (const name of info.directions) $("dir-name").append(new Option(name, name));
  if (info.directions.length === 0) $("dir-name").append(new Option("(none: pick a file)", ""));
  await restore();
}

main();
