// impasto studio: the page. Plain JS; every action is a call to the studio's API (the same core as the CLI).
"use strict";

const $ = (id) => document.getElementById(id);
const WAITING = "Pick a plate frame and a painting: nothing renders until you do.";
const clientId = "p" + Math.random().toString(36).slice(2, 10);
const state = {
  project: null,
  job: null,          // the preview job the page is following
  events: null,       // its EventSource
  current: null,      // {url, key, result} of the newest finished preview
  pinned: null,       // {url, label} of the look pinned as B
  view: "single",
  wipe: 0.5,
  timer: null,
  sweepCell: null,
  fast: null,         // {model, u_range, size, learned, version, auto} of the selected fast model, or null
  fastWanted: null,   // the u the slider asks the fast model for next (newest wins)
  fastBusy: false,
  strip: { key: "", pictures: new Map() },  // the fast model's pictures of this plate and size, by u (object URLs)
  optSeq: 0,          // counts optimisation pictures shown: a fast picture asked for before one is dropped
  optBusy: false,     // an optimisation preview is queued or rendering (the fast model paints ahead only when not)
  aheadTimer: null,
  sweepPath: null,    // the sweep whose contact sheet is open
  painterJob: null,   // the painter learning job the page follows (its info), and its EventSource
  painterEvents: null,
  lookPath: null,     // the look file opened (regions are added to it)
  regions: [],        // its regions, paths relative to the folder; u set by the region sliders
  shotPath: null,     // the shot file shown
};
// One colour per region, in order: the same as the server's overlay (impasto/studio/routes/regions.py).
const REGION_COLOURS = ["rgb(255,115,26)", "rgb(26,204,255)", "rgb(242,51,217)", "rgb(77,242,77)", "rgb(255,230,26)", "rgb(140,102,255)"];

// ---------------------------------------------------------------------------------------------- helpers

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : `${response.status} ${response.statusText}`;
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(text, isError = false) {
  const m = $("message");
  m.textContent = text || "";
  m.classList.toggle("error", !!isError);
}

function q(params) { return new URLSearchParams(params).toString(); }
function imageUrl(path, max) { return `/api/image?${q({ path, max })}`; }
function selectedStyles() { return [...document.querySelectorAll("#styles input:checked")].map((i) => i.value); }
function fmt(x, digits = 3) { return x == null ? "–" : Number(x).toPrecision(digits); }
function dur(s) {
  // As the command line says it: '8.2 s', '42 s', '3m05s', '1h20m'.
  if (s == null) return "–";
  const n = Math.round(s);
  if (s < 60) return s < 10 ? `${s.toFixed(1)} s` : `${n} s`;
  if (n < 3600) return `${Math.floor(n / 60)}m${String(n % 60).padStart(2, "0")}s`;
  return `${Math.floor(n / 3600)}h${String(Math.floor((n % 3600) / 60)).padStart(2, "0")}m`;
}
const SOURCE_LABELS = { fast: "fast preview", learned: "learned painter (preview)", optimisation: "optimisation" };

function currentLook() {
  return {
    u: Number($("u").value),
    iterations: Number($("iterations").value),
    size: Number($("final-size").value),
    seed: Number($("seed").value),
    preserve_color: $("preserve-color").value,
    ...(state.regions.length ? { regions: state.regions.map((r) => ({ ...r })) } : {}),
  };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---------------------------------------------------------------------------------------------- the folder

// Plates and paintings are told apart by the folder (plates/, styles/) or by a shot or look file that names them
// (the server's `role`); the page never guesses from file names and picks nothing: it renders once the artist
// has picked a plate frame and a painting (or opened a look, a sweep cell or a shared address).
function byRole(images, role) { return images.filter((im) => im.role === role); }

function plateOptions(images) {
  const plates = byRole(images, "plate");
  const other = byRole(images, null);
  const options = [el("option", { value: "" }, plates.length || other.length ? "— pick a plate frame —" : "— no images yet —")];
  const group = (label, items) => {
    if (!items.length) return;
    const g = el("optgroup", { label });
    g.append(...items.map((im) => el("option", { value: im.path, title: im.why || "" }, im.path)));
    options.push(g);
  };
  group("plates", plates);
  group("other images", other);
  return options;
}

function styleChecks(images, wanted) {
  const check = (im) => el("label", { title: im.why || "" },
    Object.assign(el("input", { type: "checkbox", value: im.path, onchange: stylesChanged }), { checked: wanted.includes(im.path) }),
    " " + im.path);
  const styles = byRole(images, "style");
  const other = byRole(images, null);
  const out = styles.map(check);
  if (other.length) out.push(el("p", { class: "dim sub" }, "other images"), ...other.map(check));
  if (!out.length) out.push(el("p", { class: "dim" }, "No paintings yet: put them in styles/ or add one below."));
  return out;
}

async function loadProject(keep = {}) {
  const p = await api("/api/project");
  state.project = p;
  $("folder").textContent = p.root;
  $("device").textContent = `previews on ${p.device}`;
  const plate = $("plate");
  const oldPlate = keep.plate || plate.value;
  const oldStyles = keep.styles || selectedStyles();
  plate.replaceChildren(...plateOptions(p.images));
  plate.value = p.images.some((im) => im.path === oldPlate && im.role !== "style") ? oldPlate : "";
  $("styles").replaceChildren(...styleChecks(p.images, oldStyles));
  const fast = $("fast-model");
  const oldFast = fast.value;
  fast.replaceChildren(el("option", { value: "" }, "off: the slider runs the optimisation"),
    ...(p.fast_models || []).map((m) => el("option", { value: m.path }, m.path)));
  fast.value = (p.fast_models || []).some((m) => m.path === oldFast) ? oldFast : "";
  if (state.fast && fast.value !== state.fast.model) setFast(null);
  list("looks", p.looks, (l) => `${l.path}  (u ${l.u})`, (l) => openLook(l.path));
  list("sweeps", p.sweeps, (s) => s.path, (s) => openSweep(s.path));
  list("shots", p.shots, (s) => `${s.name}  ${s.frames}  v${String(s.version).padStart(3, "0")}`, (s) => openShot(s.path));
  plateSize();
  regionChoices(p.images);
  if (!p.images.length) say("This folder has no images yet: put plate frames in plates/ and paintings in styles/ (or upload a style image).");
}

function plateSize() {
  // The final size follows the plate's long edge until the user sets it.
  if ($("final-size").dataset.touched || !state.project) return;
  const im = state.project.images.find((i) => i.path === $("plate").value);
  if (im && im.width) $("final-size").value = Math.max(32, Math.min(16384, Math.max(im.width, im.height)));
}

function list(id, items, label, onclick) {
  const ul = $(id);
  if (!items.length) { ul.replaceChildren(el("li", { class: "none" }, "none in this folder")); return; }
  ul.replaceChildren(...items.map((it) => el("li", { title: label(it), onclick: () => onclick(it) }, label(it))));
}

// ---------------------------------------------------------------------------------------------- previews

function schedulePreview(delay = 250) {
  clearTimeout(state.timer);
  state.timer = setTimeout(requestPreview, delay);
}

async function requestPreview() {
  const content = $("plate").value;
  const styles = selectedStyles();
  if (!content || !styles.length) { $("status").textContent = WAITING; return; }
  const body = { content, styles, look: currentLook(), preview_size: Number($("preview-size").value), client: clientId };
  let job;
  try {
    job = await api("/api/preview", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) { say(e.message, true); return; }
  say("");
  follow(job);
  updateCompare();
}

function follow(job) {
  if (state.events) { state.events.close(); state.events = null; }
  state.job = job;
  $("preview").dataset.state = job.state;
  if (job.state === "done") { finished(job); return; }
  state.optBusy = true;
  showProgress(job);
  const source = new EventSource(`/api/jobs/${job.id}/events`);
  state.events = source;
  const mine = () => state.job && state.job.id === job.id;
  source.addEventListener("progress", (ev) => { if (mine()) showProgress(JSON.parse(ev.data)); });
  source.addEventListener("snapshot", (ev) => {
    if (!mine()) return;
    const info = JSON.parse(ev.data);
    state.optSeq += 1;
    setPreview(info.image, "rendering", null, "optimisation");
  });
  source.addEventListener("done", (ev) => { source.close(); if (mine()) finished(JSON.parse(ev.data)); });
  source.addEventListener("failed", (ev) => {
    source.close();
    if (!mine()) return;
    const info = JSON.parse(ev.data);
    state.optBusy = false;
    $("preview").dataset.state = "failed";
    $("status").textContent = "failed: " + info.error;
    say(info.error, true);
  });
  source.addEventListener("cancelled", () => { source.close(); if (mine()) state.optBusy = false; });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) return; };
}

function showProgress(info) {
  const frac = info.iterations ? info.iteration / info.iterations : 0;
  $("bar").style.width = `${(100 * frac).toFixed(1)}%`;
  const where = info.state === "queued" ? "queued" : `iteration ${info.iteration}/${info.iterations}`;
  $("status").textContent = `${where} · ${info.elapsed ? info.elapsed.toFixed(1) + " s" : ""} · loss ${fmt(info.loss)}`;
}

function finished(info) {
  const r = info.result;
  state.current = { url: r.image, key: info.key, result: r };
  $("bar").style.width = "100%";
  $("status").textContent = `u ${r.look.u} · ${r.width}×${r.height} · ${r.iterations} it · ratio ${fmt(r.ratio)} · ` +
    `style share ${fmt(r.style_fraction, 2)} · ${r.seconds.toFixed(1)} s on ${r.device}${info.cached ? " · from cache" : ""}`;
  state.optSeq += 1;
  state.optBusy = false;
  setPreview(r.image, "done", info.key, "optimisation");
  // Measured for this plate, painting and preview size: where more u stops changing the picture.
  if (r.warning) say(r.warning);
  paintAhead();
}

function setPreview(url, stateName, key, source) {
  const img = $("preview");
  img.onload = () => {
    // Labelled once the picture is on screen, so the label always names what is shown.
    const label = $("preview-source");
    label.hidden = !source;
    label.textContent = SOURCE_LABELS[source] || SOURCE_LABELS.optimisation;
    label.classList.toggle("fast", source === "fast");
    label.classList.toggle("learned", source === "learned");
    img.dataset.source = source || "";
    img.dataset.state = stateName;
    if (key) img.dataset.key = key;
    img.dataset.loaded = String((Number(img.dataset.loaded) || 0) + 1);
    img.hidden = false;
    $("preview-empty").hidden = true;
  };
  img.onerror = () => { if (!img.dataset.loaded) img.hidden = true; };
  img.src = url;
  showImage($("wipe-a"), url);
  showImage($("sbs-a"), url);
}

function showImage(img, url) {
  // Hidden until its picture has loaded, so the page never shows a broken-image icon.
  img.onload = () => { img.hidden = false; };
  img.onerror = () => { img.hidden = true; };
  img.src = url;
}

// ---------------------------------------------------------------------------------------------- fast previews

function setFast(info, auto = false) {
  state.fast = info ? { ...info, auto } : null;
  $("fast-model").value = info ? info.model : "";
  const box = $("fast-info");
  box.classList.remove("warn");
  if (!info) { box.textContent = "Off: moving u renders with the optimisation."; return; }
  const [lo, hi] = info.u_range;
  if (info.learned) {
    box.textContent = `Learned painter ${info.model}: paints u ${lo} to ${hi} (learned at ${info.size} px). Dragging u shows its ` +
      "picture, labelled learned painter (preview); letting go renders the real look.";
  } else {
    box.textContent = `${auto ? "This look's fast model. " : ""}Trained for u ${lo} to ${hi} at ${info.size} px: ` +
      "moving u shows it at once; letting go renders the optimisation.";
  }
  paintAhead();
}

async function pickFast(path) {
  if (!path) { setFast(null); return; }
  try { setFast(await api(`/api/fast-model?${q({ model: path })}`)); fastPreview(); }
  catch (e) { setFast(null); say(e.message, true); }
}

async function fastForLook(path) {
  // The look's own fast model (beside it or in its folder, trained for its style), if there is one.
  try {
    const info = await api(`/api/fast-model?${q({ look: path })}`);
    if (info.model) setFast(info, true);
    else if (state.fast && state.fast.auto) setFast(null);
  } catch (e) { say(e.message, true); }
}

function fastPreview() {
  // Throttled: one request in flight; the newest slider position is asked for when it answers.
  if (!state.fast || !$("plate").value) return;
  state.fastWanted = Number($("u").value);
  if (!state.fastBusy) runFast();
}

function inRange(fast, u) { return u >= fast.u_range[0] && u <= fast.u_range[1]; }

function strip() {
  // The fast model's pictures of this plate at this size, by u: a u seen (or painted ahead) shows at once.
  const f = state.fast;
  const key = f ? [f.model, f.version, $("plate").value, $("preview-size").value].join("|") : "";
  if (state.strip.key !== key) {
    for (const url of state.strip.pictures.values()) URL.revokeObjectURL(url);
    state.strip = { key, pictures: new Map() };
  }
  return state.strip;
}

async function fetchFast(fast, u) {
  // The fast model's picture of the plate at u, as an object URL kept in the strip (throws the route's sentence).
  const pictures = strip().pictures;
  const key = String(u);
  if (pictures.has(key)) return { url: pictures.get(key), ahead: true };
  const params = { model: fast.model, content: $("plate").value, u, preview_size: Number($("preview-size").value) };
  const response = await fetch(`/api/fast-preview.png?${q(params)}`);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  const url = URL.createObjectURL(await response.blob());
  if (state.fast === fast && strip().pictures === pictures) pictures.set(key, url);
  return { url, ahead: false };
}

async function runFast() {
  const u = state.fastWanted;
  state.fastWanted = null;
  const fast = state.fast;
  if (u == null || !fast) return;
  const [lo, hi] = fast.u_range;
  const box = $("fast-info");
  if (!inRange(fast, u)) {
    // Outside what the model paints: the slider does what it does without one (no request, no error).
    box.textContent = `u ${u} is outside ${fast.learned ? "this learned painter's" : "this fast model's trained"} range ` +
      `${lo} to ${hi}: the optimisation renders it.`;
    box.classList.add("warn");
    schedulePreview();
    return;
  }
  box.classList.remove("warn");
  state.fastBusy = true;
  const seq = state.optSeq;
  const started = performance.now();
  const source = fast.learned ? "learned" : "fast";
  try {
    const { url, ahead } = await fetchFast(fast, u);
    // An optimisation picture shown meanwhile is newer than this one: keep it.
    if (seq === state.optSeq && state.fast === fast) {
      setPreview(url, "fast", null, source);
      $("preview").dataset.fastU = String(u);
      $("status").textContent = `${SOURCE_LABELS[source]} · u ${u} · ${Math.round(performance.now() - started)} ms` +
        `${ahead ? " (painted ahead)" : ""} · ${fast.model}`;
    }
  } catch (e) { say(e.message, true); }
  state.fastBusy = false;
  if (state.fastWanted != null) runFast();
  else paintAhead();
}

function paintAhead() {
  // While nothing else runs, paint the slider's steps inside the model's range (nearest the current u first), so
  // a drag over them shows each u at once instead of waiting for the network.
  clearTimeout(state.aheadTimer);
  state.aheadTimer = setTimeout(async () => {
    const fast = state.fast;
    if (!fast || !$("plate").value || state.fastBusy || state.optBusy || state.fastWanted != null) return;
    const slider = $("u");
    const step = Number(slider.step) || 0.25;
    const here = Number(slider.value);
    const pictures = strip().pictures;
    const steps = [];
    for (let i = Math.ceil(fast.u_range[0] / step - 1e-9); i * step <= fast.u_range[1] + 1e-9; i++) steps.push(Number((i * step).toFixed(6)));
    const next = steps.filter((u) => !pictures.has(String(u))).sort((a, b) => Math.abs(a - here) - Math.abs(b - here))[0];
    if (next == null) return;
    state.fastBusy = true;
    try { await fetchFast(fast, next); } catch (_) { state.fastBusy = false; return; }  // said when it is dragged to
    state.fastBusy = false;
    if (state.fastWanted != null) runFast(); else paintAhead();
  }, 30);
}

// ---------------------------------------------------------------------------------------------- painter

async function showPainter(sweep) {
  // Where the sweep's look-development painter stands: not learned, learning (followed), cancelled, ready.
  state.sweepPath = sweep;
  const styleBox = $("painter-style-box");
  const style = styleBox.hidden ? "" : $("painter-style").value;
  let p;
  try { p = await api(`/api/painter?${q({ sweep, ...(style ? { style } : {}) })}`); }
  catch (e) { painterSays("failed", e.message); return; }
  if (state.sweepPath !== sweep) return;
  const select = $("painter-style");
  if (p.styles.length >= 2 && !style) {
    // A sweep of several styles learns one painter per style: ask which, then show that one's.
    select.replaceChildren(...p.styles.map((s) => el("option", { value: s }, s)));
    styleBox.hidden = false;
    showPainter(sweep);
    return;
  }
  styleBox.hidden = p.styles.length < 2;
  const job = p.job;
  if (job && (job.state === "queued" || job.state === "running")) { followPainter(job); return; }
  if (p.ready) { painterReady(p, job); return; }
  if (job && job.state === "failed") { painterSays("failed", job.error, job); return; }
  if (p.checkpoint) {
    painterSays("cancelled", `Stopped${job ? ` at step ${job.step} of ${job.steps}` : ""}; its checkpoint keeps what it learned: Learn painter resumes.`, job);
    return;
  }
  painterSays("none", "Not learned yet: Learn painter learns it from this sweep's cells in the background.");
}

function painterSays(stateName, text, job = null) {
  $("painter").dataset.state = stateName;
  $("painter-status").textContent = text || "";
  const active = stateName === "queued" || stateName === "running";
  // Learn (or resume from the checkpoint) until it is learned; Start over forgets the checkpoint.
  $("painter-learn").hidden = active || stateName === "done";
  $("painter-learn").textContent = stateName === "cancelled" ? "Resume learning" : "Learn painter";
  $("painter-cancel").hidden = !active;
  $("painter-fresh").hidden = !["cancelled", "failed", "done"].includes(stateName);
  const frac = job && job.steps ? job.step / job.steps : (stateName === "done" ? 1 : 0);
  $("painter-bar").style.width = `${(100 * Math.min(1, frac)).toFixed(1)}%`;
}

async function learnPainter(fresh = false) {
  const sweep = state.sweepPath;
  if (!sweep) return;
  const body = { sweep, fresh };
  if (!$("painter-style-box").hidden && $("painter-style").value) body.style = $("painter-style").value;
  try {
    followPainter(await api("/api/painter", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
  } catch (e) { painterSays("refused", e.message); }
}

function followPainter(job) {
  if (state.painterEvents) state.painterEvents.close();
  state.painterJob = job;
  painterProgress(job);
  const source = new EventSource(`/api/painter/jobs/${job.id}/events`);
  state.painterEvents = source;
  const mine = () => state.painterJob && state.painterJob.id === job.id;
  source.addEventListener("progress", (ev) => { if (mine()) painterProgress(JSON.parse(ev.data)); });
  for (const end of ["done", "failed", "cancelled"]) {
    source.addEventListener(end, (ev) => {
      source.close();
      if (!mine()) return;
      state.painterJob = JSON.parse(ev.data);
      if (state.painterJob.sweep === state.sweepPath) showPainter(state.sweepPath);
    });
  }
}

function painterProgress(job) {
  if (job.sweep !== state.sweepPath) return;
  if (job.state === "queued") { painterSays("queued", "Queued: learns when the painter learning before it is done.", job); return; }
  const eta = job.eta != null ? ` · ${dur(job.eta)} left` : "";
  const resumed = job.resumed_from ? ` (resumed at ${job.resumed_from})` : "";
  painterSays("running", `Learning the painter from ${job.cells} cells: step ${job.step}/${job.steps}${resumed} · ` +
    `loss ${fmt(job.loss)} · ${dur(job.elapsed)}${eta}`, job);
}

async function painterReady(p, job) {
  painterSays("done", `Ready: ${p.model} paints u ${p.u_range[0]} to ${p.u_range[1]} (${p.steps} steps); dragging u ` +
    "paints through it.", job);
  // Offered under Fast model, and used by the slider unless another fast model was picked by hand.
  if (state.fast && !state.fast.auto && state.fast.model !== p.model) return;
  if (state.fast && state.fast.model === p.model && state.fast.version != null) {
    const info = await api(`/api/fast-model?${q({ model: p.model })}`).catch(() => null);
    if (info && info.version === state.fast.version) return;
  }
  try {
    await loadProject();
    setFast(await api(`/api/fast-model?${q({ model: p.model })}`), true);
  } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------------------------------------- compare

function updateCompare() {
  const which = $("compare").value;
  let url, label;
  if (which === "pinned" && state.pinned) { url = state.pinned.url; label = "B: " + state.pinned.label; }
  else { url = imageUrl($("plate").value, Number($("preview-size").value)); label = "B: plate"; }
  if (!$("plate").value) return;
  showImage($("wipe-b"), url);
  showImage($("sbs-b"), url);
  $("wipe-b-label").textContent = label;
  $("sbs-b-label").textContent = label;
}

function setView(view) {
  state.view = view;
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === view);
  for (const v of ["single", "wipe", "sbs"]) $(v).hidden = v !== view;
}

function setWipe(fraction) {
  state.wipe = Math.min(1, Math.max(0, fraction));
  const pct = (100 * state.wipe).toFixed(2);
  $("wipe-a").style.clipPath = `inset(0 ${(100 - pct).toFixed(2)}% 0 0)`;
  $("divider").style.left = `${pct}%`;
  $("divider").setAttribute("aria-valuenow", pct);
  $("wipe-box").dataset.wipe = pct;
}

function wireWipe() {
  const box = $("wipe-box");
  let dragging = false;
  const at = (ev) => { const r = box.getBoundingClientRect(); setWipe((ev.clientX - r.left) / r.width); };
  // preventDefault: otherwise the browser starts dragging the image itself and the wipe stops following.
  box.addEventListener("pointerdown", (ev) => { ev.preventDefault(); dragging = true; box.setPointerCapture(ev.pointerId); at(ev); });
  box.addEventListener("pointermove", (ev) => { if (dragging) at(ev); });
  for (const end of ["pointerup", "pointercancel"]) box.addEventListener(end, () => { dragging = false; });
  box.addEventListener("dragstart", (ev) => ev.preventDefault());
  $("divider").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowLeft") setWipe(state.wipe - 0.02);
    if (ev.key === "ArrowRight") setWipe(state.wipe + 0.02);
  });
  setWipe(0.5);
}

// ---------------------------------------------------------------------------------------------- style check

async function stylesChanged() {
  schedulePreview(50);
  const styles = selectedStyles();
  const box = $("diagnostics");
  if (!styles.length) { box.replaceChildren(el("p", { class: "dim" }, "Pick a style image.")); return; }
  const finalSize = Number($("final-size").value);
  $("check-size").textContent = `for a ${finalSize} px final`;
  const parts = [];
  for (const s of styles) {
    try {
      const rep = await api(`/api/style-check?${q({ path: s, final_size: finalSize })}`);
      const rows = rep.diagnostics.map((d) => el("tr", {},
        el("td", { class: d.ok ? "ok" : "warn" }, d.ok ? "✓" : "⚠"),
        el("td", {}, d.name.replace(/_/g, " ")),
        el("td", { class: "v", title: d.unit }, fmt(d.value))));
      parts.push(el("div", { class: "diag" }, el("strong", {}, `${s} (${rep.width}×${rep.height})`), el("table", {}, ...rows),
        ...rep.warnings.map((w) => el("p", { class: "warning" }, w))));
    } catch (e) { parts.push(el("p", { class: "warn" }, `${s}: ${e.message}`)); }
  }
  box.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------------------------- looks

function applyLook(data) {
  const look = data.look;
  $("u").value = look.u; $("u-value").textContent = look.u;
  $("iterations").value = look.iterations;
  $("final-size").value = look.size; $("final-size").dataset.touched = "1";
  if (look.seed != null) $("seed").value = look.seed;
  $("preserve-color").value = look.preserve_color || "none";
  setRegions(data.path, look.regions || []);
  if (data.content) $("plate").value = data.content;
  const styles = (data.styles || []).filter(Boolean);
  if (styles.length) for (const i of document.querySelectorAll("#styles input")) i.checked = styles.includes(i.value);
  const missing = (data.styles || []).filter((s) => !s).length + (data.content === null ? 1 : 0);
  say(missing ? `${data.path}: some of its images are not in this folder; the current ones are kept.` : `Loaded ${data.path}.`);
  stylesChanged();
  updateCompare();
}

async function openLook(path) {
  try { applyLook(await api(`/api/look?${q({ path })}`)); } catch (e) { say(e.message, true); return; }
  await fastForLook(path);
}

async function saveLook(overwrite = false) {
  const body = { path: $("look-name").value.trim(), content: $("plate").value, styles: selectedStyles(), look: currentLook(),
                 weights_origin: state.current ? state.current.result.weights_origin : null, overwrite };
  try {
    const out = await api("/api/looks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    $("save-status").textContent = `saved ${out.path}`;
    setRegions(out.path, state.regions);  // regions are added to the look file now shown
    await loadProject();
  } catch (e) {
    if (e.status === 409 && !overwrite && window.confirm(`${e.message} Overwrite it?`)) return saveLook(true);
    $("save-status").textContent = e.message;
  }
}

// ---------------------------------------------------------------------------------------------- regions

function setRegions(lookPath, regions) {
  // A look file's regions: a u slider each beside the look's, and the form that adds one to the file.
  state.lookPath = lookPath || null;
  state.regions = regions.map((r) => ({ ...r }));
  $("regions").hidden = !state.lookPath;
  $("regions-look").textContent = state.lookPath || "";
  $("region-sliders").replaceChildren(...state.regions.map((r, i) => {
    const u = r.u != null ? r.u : Number($("u").value);
    const out = el("output", {}, String(u));
    const slider = el("input", { type: "range", min: "-1", max: "8", step: "0.25", "data-region": r.name,
                                 "aria-label": `u of region ${r.name}` });
    slider.value = u;
    slider.addEventListener("input", () => {
      state.regions[i].u = Number(slider.value);
      out.textContent = slider.value;
      schedulePreview();
    });
    return el("label", { class: "region-u", title: `matte ${r.matte}${r.feather ? `, feather ${r.feather} px` : ""}` },
      el("span", { class: "swatch", style: `background:${REGION_COLOURS[i % REGION_COLOURS.length]}` }),
      `${r.name} u`, slider, out);
  }));
  $("overlay-toggle").disabled = !state.regions.length;
  if (!state.regions.length) $("overlay-toggle").checked = false;
  showOverlay();
}

function followLookU() {
  // A region without its own u paints with the look's: its slider shows the look's until it is moved.
  state.regions.forEach((r, i) => {
    if (r.u != null) return;
    const label = $("region-sliders").children[i];
    if (!label) return;
    label.querySelector("input").value = $("u").value;
    label.querySelector("output").textContent = $("u").value;
  });
}

function regionChoices(images) {
  const matte = $("region-matte");
  const old = matte.value;
  // Mattes (in mattes/ or named by a look's regions) first, then images no folder or file places.
  const choices = [...byRole(images, "matte"), ...byRole(images, null)];
  matte.replaceChildren(el("option", { value: "alpha" }, "the plate's alpha"),
    ...choices.map((im) => el("option", { value: im.path, title: im.why || "" }, im.path)));
  matte.value = choices.some((im) => im.path === old) ? old : (choices.length ? choices[0].path : "alpha");
  const style = $("region-style");
  style.replaceChildren(el("option", { value: "" }, "the look's"),
    ...[...byRole(images, "style"), ...byRole(images, null)].map((im) => el("option", { value: im.path }, im.path)));
}

function showOverlay() {
  // The mattes as the engine uses them for this plate, coloured, over the picture (the toggle shows them).
  const img = $("overlay");
  const on = $("overlay-toggle").checked && state.lookPath && state.regions.length && $("plate").value;
  img.dataset.shown = on ? "1" : "";
  if (!on) { img.hidden = true; return; }
  img.onload = () => { img.hidden = false; };
  img.onerror = () => { img.hidden = true; say("The mattes cannot be shown for this plate.", true); };
  img.src = `/api/regions/overlay.png?${q({ look: state.lookPath, content: $("plate").value, max: Number($("preview-size").value), v: state.regions.length })}`;
}

async function addRegion() {
  if (!state.lookPath) { say("Open or save a look file first: regions are saved into it.", true); return; }
  const body = { look: state.lookPath, matte: $("region-matte").value, name: $("region-name").value.trim(),
                 u: Number($("region-u").value), feather: Number($("region-feather").value) || 0,
                 invert: $("region-invert").checked };
  if ($("region-style").value) body.styles = [$("region-style").value];
  try {
    const data = await api("/api/look/region", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    // The sliders already moved keep their u; the new region comes with the one it was given.
    const moved = new Map(state.regions.map((r) => [r.name, r.u]));
    setRegions(data.path, data.look.regions.map((r) => (moved.has(r.name) ? { ...r, u: moved.get(r.name) } : r)));
    say(`Added region ${data.look.regions[data.look.regions.length - 1].name} to ${data.path}.`);
    $("region-name").value = "";
    schedulePreview(0);
  } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------------------------------------- sweeps

async function openSweep(path) {
  let s;
  try { s = await api(`/api/sweep?${q({ path })}`); } catch (e) { say(e.message, true); return; }
  $("sheet").hidden = false;
  $("sheet-title").textContent = s.path;
  if (state.sweepPath !== s.path) $("painter-style-box").hidden = true;
  showPainter(s.path);
  const png = $("sheet-png");
  if (s.sheet) { png.href = `/api/file?${q({ path: s.sheet })}`; png.hidden = false; } else png.hidden = true;
  if (!s.cells.length) { $("sheet-grid").replaceChildren(el("p", { class: "dim" }, "No cells in this sweep's manifest yet.")); return; }
  const rows = Math.max(...s.cells.map((c) => c.row)) + 1;
  const cols = Math.max(...s.cells.map((c) => c.col)) + 1;
  const grid = new Map(s.cells.map((c) => [`${c.row},${c.col}`, c]));
  const us = (s.axes && s.axes.u) || [];
  const head = el("tr", {}, el("th"), ...[...Array(cols).keys()].map((c) => el("th", {}, us[c] != null ? `u ${us[c]}` : `col ${c}`)));
  const body = [...Array(rows).keys()].map((r) => {
    const first = s.cells.find((c) => c.row === r);
    const label = first ? `${first.style}, seed ${first.seed}\n${first.iterations} it` : "";
    return el("tr", {}, el("th", {}, label), ...[...Array(cols).keys()].map((c) => {
      const cell = grid.get(`${r},${c}`);
      if (!cell) return el("td");
      const fig = el("figure", { title: `u ${cell.u}, ${cell.iterations} it`, "data-cell": cell.name, onclick: () => pickCell(cell, fig) },
        el("img", { src: `/api/file?${q({ path: cell.image })}`, alt: cell.name, loading: "lazy" }),
        el("figcaption", {}, `u ${cell.u}, ${cell.iterations} it`));
      return el("td", {}, fig);
    }));
  });
  $("sheet-grid").replaceChildren(el("table", {}, head, ...body));
  $("sheet").scrollIntoView({ behavior: "smooth" });
}

async function pickCell(cell, fig) {
  for (const f of document.querySelectorAll("#sheet-grid figure")) f.classList.remove("current");
  fig.classList.add("current");
  if (!cell.look) { say(`Cell ${cell.name} has no look file.`, true); return; }
  try {
    const data = await api(`/api/look?${q({ path: cell.look })}`);
    applyLook(data);
    schedulePreview(0);
  } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------------------------------------- shots

async function openShot(path) {
  let s;
  try { s = await api(`/api/shot?${q({ path })}`); } catch (e) { say(e.message, true); return; }
  $("shot").hidden = false;
  $("shot-title").textContent = `${s.name} v${String(s.version).padStart(3, "0")}`;
  const c = s.counts;
  const eta = s.eta ? ` · about ${(s.eta / 60).toFixed(1)} min to go` : "";
  const damaged = c.damaged ? ` · ${c.damaged} damaged` : "";
  const noPlate = c.plate_missing ? ` · ${c.plate_missing} with no plate frame` : "";
  $("shot-summary").textContent = `${c.done} done · ${c.failed} failed${damaged} · ${c.stale} with an older look · ${c.missing} not rendered${noPlate}${eta}`;
  $("shot-frames").replaceChildren(...s.frames.map((f) => {
    const kind = f.state === "done" || f.state === "stale" ? "paint" : "plate";
    const tile = el("div", { class: `frame ${f.state}`, title: f.error || f.state });
    if (kind === "paint" || !f.plate_missing) {
      tile.append(el("img", { loading: "lazy", alt: `frame ${f.frame}`, src: `/api/shot/thumb?${q({ path, frame: f.frame, kind })}` }));
    }
    tile.append(el("div", {}, `${f.frame} · ${f.state}${f.plate_missing ? " · no plate" : ""}`));
    if (f.error) tile.append(el("div", { class: "err" }, f.error));
    return tile;
  }));
  state.shotPath = path;
  setBoil(s.temporal ? s.temporal.boil : 0);
  boilNote(s.boil_note);
  showEwarp(path, s.versions || [s.version], s.version);
}

function setBoil(boil) { $("boil").value = boil; $("boil-value").value = boil; }

function boilNote(note) {
  $("boil-note").textContent = note || "";
  $("boil-note").hidden = !note;
}

async function saveBoil() {
  if (!state.shotPath) return;
  const boil = Number($("boil-value").value);
  try {
    const out = await api("/api/shot/boil", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify({ path: state.shotPath, boil }) });
    say(`Saved boil ${out.temporal.boil} in ${out.path}.`);
    await openShot(state.shotPath);
  } catch (e) { say(e.message, true); }
}

async function showEwarp(path, versions, current) {
  // E_warp of each version's rendered range beside the plate's own; measured on request (flows take a while).
  const box = $("shot-ewarp");
  const rows = new Map();
  const head = el("tr", {}, ...["version", "boil", "pairs", "painted", "plate", "excess", "worst pairs (excess)"].map((h) => el("th", {}, h)));
  const table = el("table", { "data-ewarp": path }, head);
  for (const v of versions) {
    const row = el("tr", { "data-version": v }, el("td", { class: "l" }, `v${String(v).padStart(3, "0")}${v === current ? " (current)" : ""}`),
      el("td", { colspan: "6", class: "l" }, el("span", { class: "spinner" }), " measuring E_warp…"));
    rows.set(v, row);
    table.append(row);
  }
  box.replaceChildren(el("p", { class: "dim" }, "E_warp (0-255): painted frame against the previous one warped along the plate's motion, beside the plate's own; the excess is the flicker painting adds."), table);
  for (const v of versions) {
    if (state.shotPath !== path) return;
    let e;
    try { e = await api(`/api/shot/ewarp?${q({ path, version: v })}`); }
    catch (err) { rows.get(v).replaceChildren(rows.get(v).firstChild, el("td", { colspan: "6", class: "l warn" }, err.message)); continue; }
    const cells = e.pairs ? [
      e.boil ? e.boil.join("/") : "–", String(e.pairs), fmt(e.painted), fmt(e.plate), (e.excess >= 0 ? "+" : "") + fmt(e.excess),
      e.worst.map((w) => `${w.frames[0]}→${w.frames[1]} ${(w.excess >= 0 ? "+" : "") + fmt(w.excess)}`).join(", ")]
      : null;
    const row = rows.get(v);
    row.dataset.state = "done";
    if (cells) row.replaceChildren(row.firstChild, ...cells.map((c, i) => el("td", { class: i === 5 ? "l" : "" }, c)));
    else row.replaceChildren(row.firstChild, el("td", { colspan: "6", class: "l dim" }, e.note || "nothing to compare"));
  }
}

// ---------------------------------------------------------------------------------------------- uploads

async function upload(file) {
  say(`uploading ${file.name}…`);
  try {
    const out = await api(`/api/upload?${q({ name: file.name, folder: "styles" })}`, { method: "PUT", body: file });
    const styles = [...selectedStyles(), out.path];
    await loadProject({ styles });
    say(`added ${out.path} (${out.width}×${out.height})`);
    stylesChanged();
  } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------------------------------------- wiring

function wire() {
  // With a fast model the slider paints instantly while it moves, and the optimisation renders when it is let go.
  $("u").addEventListener("input", () => {
    $("u-value").textContent = $("u").value;
    followLookU();
    if (state.fast) fastPreview(); else schedulePreview();
  });
  $("u").addEventListener("change", () => { if (state.fast) schedulePreview(0); });
  $("fast-model").addEventListener("change", (ev) => pickFast(ev.target.value));
  $("painter-learn").addEventListener("click", () => learnPainter(false));
  $("painter-style").addEventListener("change", () => { if (state.sweepPath) showPainter(state.sweepPath); });
  $("painter-fresh").addEventListener("click", () => learnPainter(true));
  $("painter-cancel").addEventListener("click", async () => {
    if (!state.painterJob) return;
    try { painterProgress(await api(`/api/painter/jobs/${state.painterJob.id}`, { method: "DELETE" })); }
    catch (e) { say(e.message, true); }
  });
  for (const id of ["iterations", "seed", "preserve-color"]) $(id).addEventListener("change", () => schedulePreview(0));
  $("final-size").addEventListener("change", () => { $("final-size").dataset.touched = "1"; stylesChanged(); });
  $("preview-size").addEventListener("change", () => { fastPreview(); schedulePreview(0); updateCompare(); showOverlay(); paintAhead(); });
  $("plate").addEventListener("change", () => { plateSize(); fastPreview(); schedulePreview(0); updateCompare(); showOverlay(); paintAhead(); });
  $("compare").addEventListener("change", updateCompare);
  $("pin").addEventListener("click", () => {
    if (!state.current) { say("Nothing to pin yet: wait for a preview."); return; }
    state.pinned = { url: state.current.url, label: `u ${state.current.result.look.u}, ${state.current.result.iterations} it` };
    $("pinned-label").textContent = `B = ${state.pinned.label}`;
    const opt = $("compare").querySelector("option[value=pinned]");
    opt.disabled = false;
    $("compare").value = "pinned";
    updateCompare();
  });
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => setView(t.dataset.view));
  for (const b of document.querySelectorAll("button.close")) b.addEventListener("click", () => { $(b.dataset.close).hidden = true; });
  $("save-look").addEventListener("click", () => saveLook(false));
  $("overlay-toggle").addEventListener("change", showOverlay);
  $("region-add").addEventListener("click", addRegion);
  $("boil").addEventListener("input", () => { $("boil-value").value = $("boil").value; });
  $("boil-value").addEventListener("input", () => { $("boil").value = $("boil-value").value; });
  $("boil-save").addEventListener("click", saveBoil);
  $("upload").addEventListener("change", (ev) => { if (ev.target.files[0]) upload(ev.target.files[0]); ev.target.value = ""; });
  wireWipe();
}

function fromAddress() {
  // Settings in the address (?u=4.5&iterations=64&preview=128&seed=3&plate=a.png&style=b.png&look=a.toml&fast=m.pt)
  // so a view can be shared.
  const params = new URLSearchParams(window.location.search);
  const set = (id, key) => { if (params.has(key)) $(id).value = params.get(key); };
  set("u", "u"); $("u-value").textContent = $("u").value;
  set("iterations", "iterations"); set("seed", "seed");
  if (params.has("size")) { $("final-size").value = params.get("size"); $("final-size").dataset.touched = "1"; }
  const preview = params.get("preview");
  if (preview && /^[0-9]+$/.test(preview)) {
    const sel = $("preview-size");
    if (![...sel.options].some((o) => o.value === preview)) sel.prepend(el("option", { value: preview }, `${preview} px`));
    sel.value = preview;
  }
  return { plate: params.get("plate") || undefined, styles: params.getAll("style"), fast: params.get("fast") || undefined,
           look: params.get("look") || undefined };
}

async function main() {
  wire();
  const initial = fromAddress();
  try { await loadProject(initial); } catch (e) { say(e.message, true); return; }
  if (initial.look) await openLook(initial.look);
  else stylesChanged();
  if (initial.fast) await pickFast(initial.fast);
  updateCompare();
}

main();
