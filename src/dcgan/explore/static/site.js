// dcgan export --out-format site: the explorer's requests answered in the browser. In a site,
// explore.js imports this module instead of calling the server: `answer(path, body)` returns
// what the server's JSON API would (dcgan/explore/engine.py), with G running from model.onnx
// in onnxruntime-web (wasm, one thread: static hosts do not send the headers threads need).
// Seeds are rows of z.bin (seed s: the z of `dcgan sample --seeds s`).
import * as ort from "onnxruntime-web";

let loaded = null;  // a promise of {site, z, session}
let queue = Promise.resolve();  // one forward pass at a time, as the server's lock
const canvas = document.createElement("canvas");

async function fetchOk(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) throw new Error("cannot load " + url + ": " + response.status);
  return response;
}

function load() {
  loaded ??= (async () => {
    const site = await (await fetchOk("site.json")).json();
    const [z, wasm] = await Promise.all([
      fetchOk("z.bin").then((r) => r.arrayBuffer()),
      fetchOk(site.ort.wasm, { integrity: site.ort.integrity }).then((r) => r.arrayBuffer()),
    ]);
    ort.env.wasm.wasmBinary = wasm;
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create("model.onnx", {
      executionProviders: ["wasm"],
    });
    return { site, z: new Float32Array(z), session };
  })();
  return loaded;
}

// ---- G: latents in, images out --------------------------------------------------------------

// Images (n, C, S, S) in [-1, 1] for latents zs (n arrays of nz numbers), as one Float32Array.
export async function generate(zs) {
  const { site, session } = await load();
  const nz = site.info.nz;
  const input = new ort.Tensor("float32", Float32Array.from(zs.flat()), [zs.length, nz]);
  const result = queue.then(() => session.run({ z: input }));
  queue = result.catch(() => {});
  return (await result).images.data;
}

// The images of `seeds`, as G's floats (for tests: the page's pixels against PyTorch's).
export async function seedImages(seeds) {
  return generate(await latents(seeds));
}

function pngs(images, n, info) {
  const s = info.size;
  const c = info.channels;
  canvas.width = canvas.height = s;
  const ctx = canvas.getContext("2d");
  const urls = [];
  for (let i = 0; i < n; i++) {
    const pixels = ctx.createImageData(s, s);
    for (let p = 0; p < s * s; p++) {
      for (let k = 0; k < 3; k++) {
        // A Uint8ClampedArray clamps and rounds half to even: dcgan's quantize exactly.
        pixels.data[4 * p + k] = (images[(i * c + Math.min(k, c - 1)) * s * s + p] + 1) * 127.5;
      }
      pixels.data[4 * p + 3] = 255;
    }
    ctx.putImageData(pixels, 0, 0);
    urls.push(canvas.toDataURL("image/png"));
  }
  return urls;
}

async function images(zs) {
  const { site } = await load();
  return pngs(await generate(zs), zs.length, site.info);
}

// ---- requests: checked as dcgan/explore/requests.py checks them -------------------------------

function field(body, name, fallback) {
  if (name in body) return body[name];
  if (fallback === undefined) throw new Error("missing field '" + name + "'");
  return fallback;
}

function integer(value, name, lo, hi) {
  if (!Number.isInteger(value)) throw new Error(name + " must be an integer, got " + value);
  if (value < lo || value > hi) {
    throw new Error(name + " must lie in [" + lo + ", " + hi + "], got " + value);
  }
  return value;
}

function number(value, name, lo, hi) {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error(name + " must be a finite number, got " + String(value).slice(0, 40));
  }
  if (value < lo || value > hi) {
    throw new Error(name + " must lie in [" + lo + ", " + hi + "], got " + value);
  }
  return value;
}

function seedsOf(value, name, least, most, info) {
  if (!Array.isArray(value) || value.length < least || value.length > most) {
    throw new Error(name + " must be a list of " + least + " to " + most + " seeds");
  }
  return value.map((s, i) => integer(s, name + "[" + i + "]", 0, info.limits.seed_max));
}

async function latents(seeds) {
  const { site, z } = await load();
  const nz = site.info.nz;
  return seeds.map((s) => Array.from(z.subarray(s * nz, (s + 1) * nz)));
}

function linspace(a, b, n) {
  return Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));
}

const add = (a, b, s = 1) => a.map((x, i) => x + s * b[i]);
const scale = (a, s) => a.map((x) => x * s);
const mean = (rows) => scale(rows.reduce((m, r) => add(m, r)), 1 / rows.length);
const norm = (a) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

// Spherical interpolation (dcgan.sampling.slerp): falls back to lerp for parallel rows.
function slerp(a, b, t) {
  const cos = a.reduce((s, x, i) => s + (x / norm(a)) * (b[i] / norm(b)), 0);
  const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
  if (Math.abs(omega) < 1e-6) return add(a, add(b, a, -1), t);
  const so = Math.sin(omega);
  return add(scale(a, Math.sin((1 - t) * omega) / so), scale(b, Math.sin(t * omega) / so));
}

// A direction from a saved record (dcgan/explore/directions.py): a list, an object's vector,
// turn_vector or smile_vector, or an arithmetic's Y minus its last concept's mean z.
function directionFrom(record, nz) {
  let v = null;
  if (Array.isArray(record)) v = record;
  else if (record && typeof record === "object") {
    const key = ["vector", "turn_vector", "smile_vector"].find((k) => k in record);
    if (key) v = record[key];
    else if (record.expression && record.y && record.mean_z) {
      const last = String(record.expression).replace(/ /g, "").match(/[+-]?[A-Z]$/);
      const m = last && record.mean_z[last[0].slice(-1)];
      const sign = last && last[0][0] === "-" ? -1 : 1;
      if (Array.isArray(m) && Array.isArray(record.y)) v = add(record.y, m, -sign);
    }
  }
  if (!Array.isArray(v) || v.length !== nz || !v.every((x) => Number.isFinite(x))) {
    throw new Error("no direction of " + nz + " numbers found (a turn, smile or arithmetic JSON)");
  }
  return v;
}

function vectorOf(body, site) {
  const nz = site.info.nz;
  if ("direction" in body) {
    const v = site.directions[body.direction];
    if (!v) throw new Error("unknown direction '" + body.direction + "'");
    return v;
  }
  let v;
  if ("vector" in body) v = body.vector;
  else if ("record" in body) v = directionFrom(body.record, nz);
  else throw new Error("give one of 'direction', 'vector' or 'record'");
  if (!Array.isArray(v) || v.length !== nz) {
    throw new Error("vector must be a list of " + nz + " numbers (the latent size)");
  }
  return v.map((x, i) => number(x, "vector[" + i + "]", -1e3, 1e3));
}

const ROUTES = {
  "/api/info": async (body, site) => site.info,

  "/api/samples": async (body, site) => {
    const seeds = seedsOf(field(body, "seeds"), "seeds", 1, site.info.limits.images, site.info);
    return { seeds, images: await images(await latents(seeds)) };
  },

  "/api/walk": async (body, site) => {
    const seeds = seedsOf(field(body, "seeds"), "seeds", 2, 16, site.info);
    const mode = field(body, "mode", "slerp");
    if (mode !== "lerp" && mode !== "slerp") throw new Error("mode must be one of lerp, slerp");
    const most = Math.floor((site.info.limits.frames - 1) / (seeds.length - 1));
    const steps = integer(field(body, "steps", 8), "steps", 1, most);
    const points = await latents(seeds);
    const zs = [];
    for (let k = 0; k + 1 < points.length; k++) {
      for (let i = 0; i < steps; i++) {
        const [a, b, t] = [points[k], points[k + 1], i / steps];
        zs.push(mode === "slerp" ? slerp(a, b, t) : add(a, add(b, a, -1), t));
      }
    }
    zs.push(points[points.length - 1]);
    const at = seeds.map((_, i) => i * steps);
    return { seeds, mode, points: at, images: await images(zs) };
  },

  // Paper §6.3.2 (Fig. 7): mean(A) - mean(B) + mean(C), its 8 neighbours, and pixel space.
  "/api/arithmetic": async (body, site) => {
    const most = site.info.limits.exemplars;
    const concepts = {};
    for (const c of ["A", "B", "C"]) concepts[c] = seedsOf(field(body, c), c, 1, most, site.info);
    if (field(body, "noise_seed", 0) !== 0) throw new Error("a site has noise seed 0 only");
    const z = {};
    for (const c of ["A", "B", "C"]) z[c] = await latents(concepts[c]);
    const means = ["A", "B", "C"].map((c) => mean(z[c]));
    const y = add(add(means[0], means[1], -1), means[2]);
    const ys = [y, ...site.offsets.map((o) => add(y, o))];
    const all = [...z.A, ...z.B, ...z.C, ...means, ...ys];
    const floats = await generate(all);
    const urls = pngs(floats, all.length, site.info);
    const pixelCount = site.info.channels * site.info.size * site.info.size;
    const image = (i) => floats.subarray(i * pixelCount, (i + 1) * pixelCount);
    const out = { concepts, exemplars: {}, means: {}, noise: site.noise };
    const pixel = new Float32Array(pixelCount);
    let i = 0;
    for (const [c, sign] of [["A", 1], ["B", -1], ["C", 1]]) {
      const n = concepts[c].length;
      out.exemplars[c] = urls.slice(i, i + n);
      for (let k = i; k < i + n; k++) image(k).forEach((x, p) => { pixel[p] += (sign * x) / n; });
      i += n;
    }
    ["A", "B", "C"].forEach((c, k) => { out.means[c] = urls[i + k]; });
    out.y = urls.slice(i + 3);
    out.pixel = pngs(pixel, 1, site.info)[0];  // the PNG clamps it to [-1, 1]
    return out;
  },

  "/api/direction": async (body, site) => {
    const seed = integer(field(body, "seed"), "seed", 0, site.info.limits.seed_max);
    const s = number(field(body, "scale", 2.0), "scale", 0, site.info.limits.scale);
    const frames = integer(field(body, "frames", 9), "frames", 2, site.info.limits.frames);
    const v = vectorOf(body, site);
    const t = linspace(-s, s, frames);
    const [z] = await latents([seed]);
    return {
      seed,
      t: t.map((x) => Math.round(x * 1e4) / 1e4),
      vector: v,
      images: await images(t.map((x) => add(z, v, x))),
    };
  },
};

// What the server would answer to a GET (no body) or a POST of `body` to `path`.
export async function answer(path, body) {
  const route = ROUTES[path];
  if (!route) throw new Error("no such route " + path);
  const { site } = await load();
  return route(body || {}, site);
}
