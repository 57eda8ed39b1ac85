// DLUT's page: pick a photo, type a look, watch it change, grade, download.
// Talks to the API of `dlut serve` (/v1/openapi.json); no framework.
"use strict";

const T = {
  en: {
    tagline: "colour grading from a sentence", controls: "Controls", drop_title: "Drop a photo (or several) here",
    drop_hint: "or click to choose, or paste (Ctrl+V); several photos get one look", prompt: "Describe the look",
    prompt_ph: "e.g. warm sunset film, soft highlights", more: "Reference photo and settings",
    reference: "Reference photo (grade towards its look)", clear: "Clear", steps: "Steps", lut_size: "LUT size",
    color_strength: "Colour (white balance, saturation, toning)", tone_strength: "Tone (contrast, brightness, fade)",
    skin_protect: "Keep skin tones natural", did_you_mean: "did you mean", read_as: "read as:",
    scene: "what the photo shows (not graded):",
    strength: "Strength", grade: "Grade", cancel: "Cancel", preview: "Preview", before: "Before", after: "After",
    placeholder: "Your photo appears here. Type a look and watch it change.", graded_photo: "Graded photo",
    recent: "Recent jobs", no_jobs: "No jobs yet.", understood: "Understood:", ignored: "not understood:",
    nothing_understood: "The offline looks know none of these words yet; a CLIP model would still try.",
    queued: "Waiting in the queue…", running: "Grading", step: "step", loss: "loss", done: "Done",
    failed: "The grade failed", cancelled: "Cancelled", need_photo: "Choose a photo first.",
    need_prompt: "Describe the look, or choose a reference photo.", not_image: "That file is not an image DLUT reads (JPEG, PNG, WebP, TIFF, PPM).",
    no_browser_preview: "This browser cannot show this format; grading still works.", offline: "offline looks (no CLIP model)",
    model: "CLIP model loaded", server_down: "The server does not answer.",
    needs_token: "This server needs its access token: open the page as {url}#token=YOUR_TOKEN (it is kept for this tab only).",
    bad_token: "The server refused the access token: open the page again as {url}#token=YOUR_TOKEN.", took: "took", method_looks: "offline look",
    method_clip: "optimised through CLIP", method_transfer: "colour transfer", downloading: "Downloading…",
    lost: "Lost the connection to the job; reconnecting…",
    preview_this: "Preview the look on this photo", prompt_long: "{n} of 1000 characters",
    too_many_pixels: "This photo is {w} x {h} pixels; this server grades at most {mp} megapixels. Send a smaller copy.",
    ref_offline: "No CLIP model on this server: the grade takes the reference photo's colours, and the prompt is not used.",
    nothing_understood_offline: "The offline looks know none of these words yet, and this server has no CLIP model to try them.",
    regions: "Grade parts differently (regions)",
    region_hint: "Each region gets its own look inside a mask: upload one (white = inside, the photo's shape) or, with a CLIP model, name the part.",
    region_add: "+ Add a region", feather: "Soften mask edges (px)", region_where_ph: "where, e.g. the sky",
    region_look_ph: "its look, e.g. deep teal", region_mask: "Mask…", region_remove: "Remove region",
    region_files: "Regions", region_lut: "LUT", region_mask_dl: "Mask", heatmap: "Heatmap",
    set_photos: "Every photo, one look", contact: "Contact sheet (before / after)", download: "Download",
    n_photos: "{n} photos: one look for all of them", n_photos_short: "{n} photos", n_regions: "{n} regions", n_regions_one: "{n} region",
    regions_no_set: "Regions belong to one photo: remove them to grade a set.",
    region_needs_mask: "This server has no CLIP model: give each region a mask.",
    region_incomplete: "Each region needs its look, and a place or a mask.",
    too_many_photos: "At most {n} photos at once on this server.",
  },
  zh: {
    tagline: "一句话调色", controls: "控制", drop_title: "把照片拖到这里（可多张）", drop_hint: "或点击选择，或粘贴 (Ctrl+V)；多张照片共用一个风格",
    prompt: "描述想要的风格", prompt_ph: "例如：温暖的日落胶片风，柔和高光", more: "参考图与设置",
    reference: "参考照片（向它的色调靠拢）", clear: "清除",
    regions: "分区调色（局部不同风格）",
    region_hint: "每个区域在蒙版内有自己的风格：上传蒙版（白色为区域内，形状与照片相同），或在有 CLIP 模型时直接写出部位。",
    region_add: "+ 添加区域", feather: "蒙版边缘柔化（像素）", region_where_ph: "部位，例如 天空",
    region_look_ph: "它的风格，例如 深青色", region_mask: "蒙版…", region_remove: "删除区域",
    region_files: "区域", region_lut: "LUT", region_mask_dl: "蒙版", heatmap: "热力图",
    set_photos: "所有照片，同一风格", contact: "对比总览（原图 / 调色后）", download: "下载",
    n_photos: "{n} 张照片：共用一个风格", n_photos_short: "{n} 张照片", n_regions: "{n} 个区域", n_regions_one: "{n} 个区域",
    regions_no_set: "区域只属于一张照片：要批量调色请先删除区域。",
    region_needs_mask: "服务器没有 CLIP 模型：请给每个区域上传蒙版。",
    region_incomplete: "每个区域都需要风格，以及部位或蒙版。",
    too_many_photos: "这台服务器一次最多 {n} 张照片。", steps: "步数", lut_size: "LUT 尺寸", strength: "强度",
    color_strength: "色彩（白平衡、饱和度、分离色调）", tone_strength: "影调（对比、亮度、褪色）",
    skin_protect: "保持肤色自然", did_you_mean: "你是不是想说", read_as: "已更正：",
    scene: "画面内容（不调色）：",
    grade: "开始调色", cancel: "取消", preview: "预览", before: "原图", after: "调色后",
    placeholder: "照片会显示在这里。输入风格，实时看到变化。", graded_photo: "调色后的照片", recent: "最近的任务",
    no_jobs: "还没有任务。", understood: "理解为：", ignored: "未理解：",
    nothing_understood: "离线风格库还不认识这些词；有 CLIP 模型时仍会尝试。", queued: "排队中…", running: "调色中",
    step: "步", loss: "损失", done: "完成", failed: "调色失败", cancelled: "已取消", need_photo: "请先选择一张照片。",
    need_prompt: "请描述风格，或选择一张参考照片。", not_image: "这个文件不是 DLUT 能读取的图片（JPEG、PNG、WebP、TIFF、PPM）。",
    no_browser_preview: "浏览器无法显示这种格式，但仍可调色。", offline: "离线风格（未加载 CLIP 模型）",
    model: "已加载 CLIP 模型", server_down: "服务器没有响应。",
    needs_token: "这个服务器需要访问令牌：请用 {url}#token=你的令牌 打开本页（令牌只保存在这个标签页）。",
    bad_token: "服务器拒绝了这个访问令牌：请重新用 {url}#token=你的令牌 打开本页。", took: "用时", method_looks: "离线风格",
    method_clip: "经 CLIP 优化", method_transfer: "色彩迁移", downloading: "下载中…", lost: "与任务的连接中断，正在重连…",
    preview_this: "在这张照片上预览风格", prompt_long: "{n} / 1000 字符",
    too_many_pixels: "这张照片是 {w} x {h} 像素；此服务器最多处理 {mp} 百万像素，请换一张较小的副本。",
    ref_offline: "此服务器没有 CLIP 模型：将按参考照片的色彩调色，不使用文字描述。",
    nothing_understood_offline: "离线风格库还不认识这些词，此服务器也没有 CLIP 模型可以尝试。",
  },
};
const EXAMPLES = {
  en: ["warm sunset film", "cold teal night, high contrast", "soft pastel, airy", "moody forest, muted greens",
       "vintage Kodak Portra", "black and white, punchy"],
  zh: ["温暖的日落胶片风", "冷青色夜景，高对比", "日系清新", "赛博朋克 霓虹", "复古胶片", "黑白 高对比"],
};

const $ = (id) => document.getElementById(id);
const state = {
  lang: "en",
  token: null, file: null, files: [], ref: null, maxPhotos: 24, before: null, after: null, job: null, stream: null,
  typingSeq: 0, typingTimer: 0, hasModel: false, losses: [],
};
state.lang = localStorage.getItem("dlut.lang") || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
const t = (k) => (T[state.lang] && T[state.lang][k]) || T.en[k] || k;
const tn = (k, n) => t(n === 1 && T.en[k + "_one"] ? k + "_one" : k).replace("{n}", n);   // "1 region", "2 regions"

// ---- the token (?token=... or #token=... once, kept for the session) ----
(function readToken() {
  const m = (location.hash + "&" + location.search).match(/[#?&]token=([^&]+)/);
  if (m) { sessionStorage.setItem("dlut.token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  state.token = sessionStorage.getItem("dlut.token");
})();

// api() that asks again while the server answers 503 busy (encoding or decoding for someone else; it says
// Retry-After): `tries` times, waiting 1 s more `step` ms per try
async function apiPatient(path, tries, step) {
  for (let i = 0; ; i++) {
    try { return await api(path); }
    catch (e) {
      if (e.status !== 503 || i + 1 >= tries) throw e;
      await new Promise((ok) => setTimeout(ok, 1000 + step * i));
    }
  }
}
// A server error as the page shows it: on the Chinese page, what its code means in Chinese first, then the
// server's own words (which hold the numbers and names)
const ZH_ERRORS = {
  too_large: "太大了", queue_full: "队列已满，请稍后再试", busy: "服务器正忙，请稍后再试", not_found: "找不到",
  not_ready: "任务还没有完成", unsupported: "不支持的文件", timeout: "任务超时", cancelled: "已取消",
  forbidden: "请求被拒绝", bad_input: "输入有误", out_of_memory: "服务器内存不足",
};
function serverMessage(e) {
  const m = e.message || "";
  return state.lang === "zh" && ZH_ERRORS[e.code] ? ZH_ERRORS[e.code] + "：" + m : m;
}
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let r;
  try { r = await fetch(path, Object.assign({}, opts, { headers })); }
  catch (e) { throw new Error(t("server_down")); }
  if (r.status === 401) {   // the page opens without the token; the API does not
    const err = new Error(t(state.token ? "bad_token" : "needs_token").replace("{url}", location.origin + location.pathname));
    err.status = 401; showMsg(err.message); throw err;
  }
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { const j = await r.json(); if (j.error && j.error.message) msg = serverMessage(j.error); } catch (e) { /* not JSON */ }
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return r;
}

// ---- messages ----
function showMsg(text, ok) {
  const m = $("msg");
  if (!text) { m.hidden = true; return; }
  m.textContent = text; m.className = "msg" + (ok ? " ok" : ""); m.hidden = false;
}

// ---- language ----
function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  const chips = $("examples"); chips.textContent = "";
  for (const ex of EXAMPLES[state.lang]) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = ex;
    b.onclick = () => { $("prompt").value = ex; onPromptInput(); };
    chips.appendChild(b);
  }
  serverInfo();
  renderSetPicked(true); renderRegionCount();
  document.querySelectorAll("#region-rows li").forEach(labelRegionRow);
  if (state.job) { renderJobState(state.job); if (state.job.state === "done" && !$("result").hidden) renderResultExtras(state.job); }
}
$("lang").onclick = () => { state.lang = state.lang === "zh" ? "en" : "zh"; localStorage.setItem("dlut.lang", state.lang); applyLang(); loadRecent(); };

async function serverInfo() {
  try {
    const j = await (await api("/healthz")).json();
    state.hasModel = !!j.model;
    if (j.max_photos) state.maxPhotos = j.max_photos;
    if (j.max_pixels) state.maxPixels = j.max_pixels;
    $("steps").closest("label").hidden = !j.model;   // steps are the optimiser's: nothing to set without a model
    $("server-info").textContent = j.model ? t("model") : t("offline");
  } catch (e) { $("server-info").textContent = t("server_down"); }
}

// ---- drawing: before on the left of the split, after (at the strength) on the right ----
const canvas = $("canvas"), ctx = canvas.getContext("2d");
function fitSize(w, h, max) { const s = Math.min(1, max / Math.max(w, h)); return [Math.round(w * s), Math.round(h * s)]; }
function draw() {
  if (!state.before) return;
  const w = canvas.width, h = canvas.height;
  ctx.globalAlpha = 1; ctx.drawImage(state.before, 0, 0, w, h);
  if (state.after) {
    const split = $("split-range").value / 100, x = Math.round(w * split);
    ctx.save(); ctx.beginPath(); ctx.rect(x, 0, w - x, h); ctx.clip();
    ctx.globalAlpha = $("strength").value / 100;   // the same linear blend the server applies
    ctx.drawImage(state.after, 0, 0, w, h);
    ctx.restore();
    $("split").hidden = false; $("split-range").hidden = false;
    document.querySelector(".split-line").style.left = (split * 100) + "%";
  } else { $("split").hidden = true; $("split-range").hidden = true; }
}
// The canvas holds the photo at up to 1280 px; on screen it fills the stage's width, at most 70% of the window's height.
function layoutCanvas() {
  if (!state.before) return;
  const stage = $("stage"), maxW = stage.clientWidth, maxH = Math.max(200, window.innerHeight * 0.7);
  const s = Math.min(maxW / canvas.width, maxH / canvas.height);
  canvas.style.width = Math.round(canvas.width * s) + "px";
  canvas.style.height = Math.round(canvas.height * s) + "px";
}
window.addEventListener("resize", layoutCanvas);
function setBefore(img) {
  state.before = img; state.after = null;
  const [w, h] = fitSize(img.naturalWidth || img.width, img.naturalHeight || img.height, 1280);
  canvas.width = w; canvas.height = h;
  $("stage").classList.remove("empty"); layoutCanvas(); draw();
}
// drag the split on the picture itself
canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); moveSplit(e); });
canvas.addEventListener("pointermove", (e) => { if (e.buttons) moveSplit(e); });
function moveSplit(e) {
  const r = canvas.getBoundingClientRect();
  $("split-range").value = Math.max(0, Math.min(100, ((e.clientX - r.left) / r.width) * 100));
  draw();
}
function loadImage(src) {
  return new Promise((res, rej) => { const i = new Image(); i.onload = () => res(i); i.onerror = () => rej(new Error("image")); i.src = src; });
}
async function imageFromApi(path) {
  const b = await (await api(path)).blob();
  return loadImage(URL.createObjectURL(b));
}

// ---- the photo ----
// What the first bytes say (the server judges uploads the same way): "jpeg", "png", "webp", "tiff", "ppm" or null.
async function sniff(file) {
  const b = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const s = String.fromCharCode(...b);
  if (b[0] === 0xff && b[1] === 0xd8) return "jpeg";
  if (s.startsWith("\x89PNG")) return "png";
  if (s.startsWith("RIFF") && s.slice(8, 12) === "WEBP") return "webp";
  if (s.startsWith("II*\0") || s.startsWith("MM\0*")) return "tiff";
  if (/^P[356]\s/.test(s)) return "ppm";
  return null;
}
const IMAGE_TYPES = /^image\/(jpeg|png|webp|tiff|x-portable-pixmap)$/;
async function isImage(file) {
  if (file.type && !IMAGE_TYPES.test(file.type) && !/\.(ppm|tiff?)$/i.test(file.name)) return false;
  return !!(await sniff(file));
}
// One photo, or several: a set graded with one look (the first is the one previewed).
async function setPhotos(list) {
  const files = [...(list || [])];
  if (!files.length) return;
  for (const f of files) if (!(await isImage(f))) { showMsg(t("not_image") + (files.length > 1 ? " (" + f.name + ")" : "")); return; }
  if (files.length > state.maxPhotos) { showMsg(tn("too_many_photos", state.maxPhotos)); return; }
  state.files = files;
  renderSetPicked();
  await setPhoto(files[0], true);
  if (files.length > 1) $("photo-name").textContent = tn("n_photos", files.length);
}
function renderSetPicked(relabel) {
  const n = state.files.length;
  $("set-picked").hidden = n < 2;
  $("set-count").textContent = n > 1 ? tn("n_photos", n) : "";
  if (relabel && n > 1) $("photo-name").textContent = tn("n_photos", n);
  const ul = $("set-thumbs");
  if (ul.files === state.files) return;
  ul.textContent = ""; ul.files = state.files;
  if (n < 2) return;
  state.files.forEach((f, i) => {
    const li = document.createElement("li");
    const img = document.createElement("img"); img.alt = f.name; img.title = f.name; img.src = URL.createObjectURL(f);
    const cap = document.createElement("span"); cap.textContent = (i + 1) + " · " + f.name;
    li.append(img, cap); ul.appendChild(li);
    // a click (or Enter) previews the look on this photo of the set; the set stays as it is
    li.tabIndex = 0; li.setAttribute("role", "button"); li.title = t("preview_this");
    const pick = async () => {
      await setPhoto(f, true); $("photo-name").textContent = tn("n_photos", state.files.length);
      ul.querySelectorAll("li").forEach((x) => x.classList.toggle("on", x === li));
    };
    li.onclick = pick;
    li.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } };
    if (i === 0) li.classList.add("on");
  });
}
$("set-clear").onclick = () => {
  const f = state.files[0]; state.files = f ? [f] : []; renderSetPicked();
  if (f) $("photo-name").textContent = f.name + " · " + (f.size / 1e6).toFixed(1) + " MB";
  updateGo();
};
async function setPhoto(file, inSet) {
  if (!file) return;
  if (!(await isImage(file))) { showMsg(t("not_image")); return; }
  if (!inSet) { state.files = [file]; renderSetPicked(); }
  showMsg(""); state.file = file; state.small = null; state.source = null;
  $("photo-name").textContent = file.name + " · ";
  const sz = document.createElement("span"); sz.className = "size"; sz.textContent = (file.size / 1e6).toFixed(1) + " MB";
  $("photo-name").append(sz);
  $("result").hidden = true; $("progress").hidden = true;
  try {
    const img = await loadImage(URL.createObjectURL(file));
    if (state.maxPixels && img.naturalWidth * img.naturalHeight > state.maxPixels) {   // said now, not after the upload
      showMsg(t("too_many_pixels").replace("{w}", img.naturalWidth).replace("{h}", img.naturalHeight)
        .replace("{mp}", Math.floor(state.maxPixels / 1e6)));
      state.file = null; state.files = []; renderSetPicked(); updateGo(); return;
    }
    setBefore(img);
    // the live preview's copy: as sharp as the picture is shown (device pixels), 640..1024 px (the server's cap)
    const shown = Math.max(canvas.clientWidth, canvas.clientHeight) * (window.devicePixelRatio || 1);
    state.small = await smallJpeg(img, Math.min(1024, Math.max(640, Math.round(shown))));
  } catch (e) { state.before = null; $("stage").classList.add("empty"); showMsg(t("no_browser_preview"), true); }
  updateGo(); onPromptInput();
}
function smallJpeg(img, side) {
  const [w, h] = fitSize(img.naturalWidth, img.naturalHeight, side);
  const c = document.createElement("canvas"); c.width = w; c.height = h;
  c.getContext("2d").drawImage(img, 0, 0, w, h);
  return new Promise((res) => c.toBlob(res, "image/jpeg", 0.9));
}
const drop = $("drop"), fileInput = $("file");
drop.onclick = () => fileInput.click();
drop.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } };
fileInput.onchange = () => setPhotos(fileInput.files);
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
// a file let go on a file field (the reference, a region's mask) is that field's: the browser fills it
const onFileField = (e) => e.target && e.target.matches && e.target.matches("input[type=file]");
window.addEventListener("dragover", (e) => { if (!onFileField(e)) e.preventDefault(); });
window.addEventListener("drop", (e) => {   // a photo let go anywhere else: the same as on the drop box, not a navigation
  if (onFileField(e)) return;
  e.preventDefault();
  if (e.target.closest && e.target.closest("#drop")) return;
  if (e.dataTransfer && e.dataTransfer.files.length) setPhotos(e.dataTransfer.files);
});
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files.length) setPhotos(e.dataTransfer.files); };
window.addEventListener("paste", (e) => {
  const f = [...(e.clipboardData ? e.clipboardData.files : [])].find((x) => x.type.startsWith("image/"));
  if (f) setPhotos([f]);
});

// ---- regions: one row each, a place (words) or a mask, and its look ----
function addRegionRow(where, look) {
  const li = document.createElement("li"); li.className = "region-row";
  const num = document.createElement("span"); num.className = "region-num";
  const w = document.createElement("input"); w.type = "text"; w.className = "region-where"; w.maxLength = 200; w.value = where || "";
  const l = document.createElement("input"); l.type = "text"; l.className = "region-look"; l.maxLength = 500; l.value = look || "";
  const mask = document.createElement("input"); mask.type = "file"; mask.className = "region-mask-file"; mask.hidden = true;
  mask.accept = "image/png,image/jpeg,image/webp,image/tiff,.pgm,.ppm";
  const mb = document.createElement("button"); mb.type = "button"; mb.className = "ghost small region-mask";
  const rm = document.createElement("button"); rm.type = "button"; rm.className = "ghost small region-remove"; rm.textContent = "×";
  w.addEventListener("input", () => { if (w.value.includes("=")) w.value = w.value.replace(/=/g, " "); updateGo(); });   // '=' splits WHERE=PROMPT
  l.addEventListener("input", () => { updateGo(); clearTimeout(state.typingTimer); state.typingTimer = setTimeout(previewLook, 250); });
  mb.onclick = () => { if (li.maskFile) { li.maskFile = null; mask.value = ""; labelRegionRow(li); updateGo(); previewLook(); } else mask.click(); };
  mask.onchange = async () => {
    const f = mask.files[0];
    if (f && !(await isImage(f))) { showMsg(t("not_image")); mask.value = ""; return; }
    li.maskFile = f || null; labelRegionRow(li); updateGo(); previewLook();
  };
  rm.onclick = () => { li.remove(); renumberRegions(); updateGo(); previewLook(); };
  const inputs = document.createElement("div"); inputs.className = "region-inputs"; inputs.append(w, l);
  li.append(num, inputs, mb, rm, mask);
  $("region-rows").appendChild(li);
  labelRegionRow(li); renumberRegions();
  return li;
}
function labelRegionRow(li) {
  const w = li.querySelector(".region-where"), l = li.querySelector(".region-look"), mb = li.querySelector(".region-mask");
  const rm = li.querySelector(".region-remove");
  w.placeholder = t("region_where_ph"); l.placeholder = t("region_look_ph");
  rm.title = t("region_remove"); rm.setAttribute("aria-label", t("region_remove"));
  if (li.maskFile) { w.value = ""; w.disabled = true; w.placeholder = li.maskFile.name; mb.textContent = "✓ " + li.maskFile.name.slice(0, 14) + " ×"; mb.classList.add("on"); }
  else { w.disabled = false; mb.textContent = t("region_mask"); mb.classList.remove("on"); }
}
function renumberRegions() {
  document.querySelectorAll("#region-rows li").forEach((li, i) => { li.querySelector(".region-num").textContent = i + 1; });
  renderRegionCount();
}
function renderRegionCount() {
  const n = document.querySelectorAll("#region-rows li").length, b = $("region-count");
  b.hidden = !n; b.textContent = n ? tn("n_regions", n) : "";
  $("region-add").disabled = n >= 8;
}
// the regions as the form sends them, or an error: [{mask: File|null, where, look}]
function regionSpecs() {
  const out = [];
  for (const li of document.querySelectorAll("#region-rows li")) {
    const where = li.querySelector(".region-where").value.trim(), look = li.querySelector(".region-look").value.trim();
    if (!where && !look && !li.maskFile) continue;     // an empty row is ignored
    if (!look || (!where && !li.maskFile)) return { error: t("region_incomplete") };
    if (!li.maskFile && !state.hasModel) return { error: t("region_needs_mask") };
    out.push({ mask: li.maskFile || null, where, look });
  }
  if (out.length && state.files.length > 1) return { error: t("regions_no_set") };
  return { regions: out };
}
$("region-add").onclick = () => { $("regions-box").open = true; addRegionRow().querySelector(".region-where").focus(); };
$("ref").onchange = () => {
  state.ref = $("ref").files[0] || null; updateGo();
  showMsg(state.ref && !state.hasModel ? t("ref_offline") : "", true);
};
$("ref-clear").onclick = () => { $("ref").value = ""; state.ref = null; updateGo(); showMsg(""); };

function updateGo() {
  const busy = state.job && (state.job.state === "queued" || state.job.state === "running");
  $("go").disabled = (!state.file && !state.source) || busy || (!$("prompt").value.trim() && !state.ref);
}

// ---- the offline look as you type ----
function showUnderstood(j) {
  const u = $("understood"); u.textContent = "";
  if (!j) return;
  if (j.understood) {
    u.append(t("understood") + " "); const b = document.createElement("b");
    b.textContent = state.lang === "zh" ? j.understood.split(", ").join("、") : j.understood; u.append(b);
    if (j.ignored) u.append(" · " + t("ignored") + " " + j.ignored);
  } else if ($("prompt").value.trim()) u.textContent = t(state.hasModel ? "nothing_understood" : "nothing_understood_offline");
  if (j.suggested) u.append(" · " + t("did_you_mean") + " " + j.suggested + "?");
  if (j.corrected) u.append(" · " + t("read_as") + " " + j.corrected);
  if (j.scene) u.append(" · " + t("scene") + " " + j.scene);
}
function onPromptInput() {
  const len = $("prompt").value.length;
  $("prompt-count").hidden = len < 900;
  $("prompt-count").textContent = t("prompt_long").replace("{n}", len);
  if (!state.ref || state.hasModel) showMsg("");   // a message about the earlier prompt no longer applies
  // a new prompt after a finished job: its result no longer matches the preview, so put it away
  const j = state.job;
  if (j && j.state !== "queued" && j.state !== "running" && $("prompt").value.trim() !== (j.prompt || "")) {
    state.job = null; state.losses = [];
    $("result").hidden = true; $("progress").hidden = true; $("cancel").hidden = true;
  }
  updateGo();
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(previewLook, 150);
}
async function previewLook() {
  const prompt = $("prompt").value.trim();
  const seq = ++state.typingSeq;
  if (!prompt) { showUnderstood(null); if (!state.job) { state.after = null; draw(); } return; }
  const fd = new FormData(); fd.append("prompt", prompt);
  lookSettings(fd);
  if (state.small) fd.append("photo", state.small, "preview.jpg");
  try {
    const j = await (await api("/v1/looks", { method: "POST", body: fd })).json();
    if (seq !== state.typingSeq) return;      // a newer keystroke won
    showUnderstood(j);
    if (j.preview && state.before) {
      const after = await withMaskRegions(await loadImage(j.preview), seq);
      if (seq === state.typingSeq) { state.after = after; draw(); }
    }
  } catch (e) { if (seq === state.typingSeq) showMsg(e.message); }
}
// The regions that have a mask, in the live preview too: each region's look (its own /v1/looks preview)
// over the global one inside its mask (white = inside), the edge softened as the job's feather does.
// Text regions need a CLIP model to find their place: the preview leaves them to the job.
async function withMaskRegions(global, seq) {
  const rows = [...document.querySelectorAll("#region-rows li")].filter((li) => li.maskFile && li.querySelector(".region-look").value.trim());
  if (!rows.length || state.files.length > 1) return global;
  const w = global.naturalWidth, h = global.naturalHeight;
  const out = document.createElement("canvas"); out.width = w; out.height = h;
  const o = out.getContext("2d"); o.drawImage(global, 0, 0);
  for (const li of rows) {
    const fd = new FormData(); fd.append("prompt", li.querySelector(".region-look").value.trim());
    lookSettings(fd);
    fd.append("photo", state.small, "preview.jpg");
    const j = await (await api("/v1/looks", { method: "POST", body: fd })).json();
    if (seq !== state.typingSeq || !j.preview) return global;
    if (!li.maskImage || li.maskImage.file !== li.maskFile) {
      li.maskImage = await loadImage(URL.createObjectURL(li.maskFile)); li.maskImage.file = li.maskFile;
    }
    // the mask's grey as alpha, at the preview's size, blurred by the feather scaled to it
    const m = document.createElement("canvas"); m.width = w; m.height = h;
    const mc = m.getContext("2d");
    const feather = +$("feather").value * w / Math.max(1, state.before.naturalWidth || w);
    if (feather > 0.5) mc.filter = "blur(" + (feather / 2).toFixed(1) + "px)";
    mc.drawImage(li.maskImage, 0, 0, w, h);
    const md = mc.getImageData(0, 0, w, h), px = md.data;
    const region = await loadImage(j.preview);
    const r = document.createElement("canvas"); r.width = w; r.height = h;
    const rc = r.getContext("2d"); rc.drawImage(region, 0, 0, w, h);
    const rd = rc.getImageData(0, 0, w, h), rp = rd.data;
    for (let i = 0; i < px.length; i += 4) rp[i + 3] = Math.round(0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]);
    rc.putImageData(rd, 0, 0);
    o.drawImage(r, 0, 0);
  }
  return out;
}
$("prompt").addEventListener("input", onPromptInput);
$("prompt").addEventListener("keydown", (e) => {   // Ctrl+Enter (Cmd+Enter) grades; Enter alone is a new line
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !$("go").disabled) { e.preventDefault(); $("go").click(); }
});
// the offline look's colour and tone strengths and the skin protection: sent with the preview and the job
function lookSettings(fd) {
  fd.append("color_strength", $("color_strength").value / 100);
  fd.append("tone_strength", $("tone_strength").value / 100);
  fd.append("skin_protect", $("skin_protect").checked ? "1" : "0");
}
for (const [id, out] of [["color_strength", "color-out"], ["tone_strength", "tone-out"]])
  $(id).addEventListener("input", () => {
    $(out).textContent = $(id).value + "%";
    clearTimeout(state.typingTimer); state.typingTimer = setTimeout(previewLook, 100);
  });
$("skin_protect").addEventListener("change", previewLook);
$("strength").addEventListener("input", () => { $("strength-out").textContent = $("strength").value + "%"; draw(); });
$("split-range").addEventListener("input", draw);

// ---- grading ----
$("go").onclick = async () => {
  if (!state.file && state.source) {   // an old job opened from the list: graded anew from its own photo
    try {
      const r = await api("/v1/jobs/" + state.source.id + "/photo");
      const b = await r.blob();
      state.file = new File([b], state.source.name || "photo", { type: b.type }); state.files = [state.file];
    } catch (e) { showMsg(e.message); return; }
  }
  if (!state.file) { showMsg(t("need_photo")); return; }
  const prompt = $("prompt").value.trim();
  if (!prompt && !state.ref) { showMsg(t("need_prompt")); return; }
  showMsg("");
  const rs = regionSpecs();
  if (rs.error) { showMsg(rs.error); return; }
  const fd = new FormData();
  const photos = state.files.length > 1 ? state.files : [state.file];
  for (const f of photos) fd.append("photo", f, f.name || "photo");
  if (prompt) fd.append("prompt", prompt);
  // regions in their order: a place as "WHERE=PROMPT", a mask as the file and its mask_prompt
  for (const r of rs.regions) {
    if (r.mask) { fd.append("mask", r.mask, r.mask.name || "mask.png"); fd.append("mask_prompt", r.look); }
    else fd.append("region", r.where + "=" + r.look);
  }
  if (rs.regions.length && +$("feather").value > 0) fd.append("feather", $("feather").value);
  if (state.ref) fd.append("reference", state.ref, state.ref.name || "reference");
  fd.append("steps", $("steps").value);
  fd.append("lut_size", $("lut_size").value);
  lookSettings(fd);
  $("go").disabled = true;
  try {
    const j = await (await api("/v1/jobs", { method: "POST", body: fd })).json();
    state.job = { id: j.id, state: "queued", step: 0, steps: 0 };
    state.losses = [];
    history.replaceState(null, "", "#job=" + j.id);   // a reload opens it again
    renderJobState(state.job);
    // one column (a phone): the progress and the result are above the button, out of sight
    const st = $("stage").getBoundingClientRect();
    if (st.bottom < 0 || st.top > window.innerHeight) $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
    follow(j.id);
    loadRecent();
  } catch (e) { showMsg(e.message); updateGo(); }
};
$("cancel").onclick = async () => {
  if (!state.job) return;
  try { await api("/v1/jobs/" + state.job.id, { method: "DELETE" }); } catch (e) { showMsg(e.message); }
};

// Server-Sent Events read through fetch, so the token header goes along.
async function follow(id, attempt = 0) {
  if (state.stream) state.stream.abort();
  const ac = new AbortController(); state.stream = ac;
  let ended = false;
  try {
    const r = await api("/v1/jobs/" + id + "/events", { signal: ac.signal });
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let k;
      while ((k = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, k); buf = buf.slice(k + 2);
        let ev = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) ev = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const d = JSON.parse(data);
        if (state.job && state.job.id !== id) return;
        if (attempt) { showMsg(""); attempt = 0; }   // back in touch
        if (ev === "state" || ev === "end") { state.job = d; if (d.losses) state.losses = d.losses.slice(); renderJobState(d); }
        if (ev === "progress") { state.job.step = d.step; state.job.steps = d.steps; state.job.state = "running"; state.losses.push(d.loss); renderJobState(state.job); }
        if (ev === "preview" && state.before) { state.after = await loadImage("data:image/jpeg;base64," + d.jpeg); draw(); }
        if (ev === "end") { ended = true; await finished(d); }
      }
    }
  } catch (e) {
    if (ac.signal.aborted) return;
    if (e.status === 404 || e.status === 401 || e.status === 403) {   // not a lost connection: say so, and stop
      if (state.job && state.job.id === id) {
        showMsg(e.message); state.job = null; $("cancel").hidden = true; $("progress").hidden = true; updateGo();
      }
      return;
    }
  }
  if (!ended && state.job && state.job.id === id) {   // the stream broke: pick the job up again, for as long as it takes
    showMsg(t("lost"), true);                         // (a restarted server runs the job again and streams it)
    setTimeout(() => { if (state.job && state.job.id === id) follow(id, attempt + 1); }, Math.min(5000, 1000 + 250 * attempt));
  }
}

function renderJobState(j) {
  const busy = j.state === "queued" || j.state === "running";
  $("progress").hidden = !busy && !(state.losses && state.losses.length > 1);
  $("cancel").hidden = !busy;
  const frac = j.steps ? j.step / j.steps : (j.state === "done" ? 1 : 0);
  $("bar-fill").style.width = Math.round(frac * 100) + "%";
  let text = j.state === "queued" ? t("queued") : j.state === "running" ? t("running") : t(j.state);
  if (j.steps) text += ` · ${t("step")} ${j.step}/${j.steps}`;
  if (state.losses.length) text += ` · ${t("loss")} ${state.losses[state.losses.length - 1].toFixed(4)}`;
  $("progress-text").textContent = text;
  plot();
  updateGo();
}
function plot() {
  const L = state.losses; if (!L || L.length < 2) { $("plot-line").setAttribute("points", ""); return; }
  const lo = Math.min(...L), hi = Math.max(...L), span = hi - lo || 1;
  $("plot-line").setAttribute("points", L.map((v, i) => `${(i / (L.length - 1) * 200).toFixed(1)},${(38 - (v - lo) / span * 36).toFixed(1)}`).join(" "));
}

async function finished(j) {
  updateGo();
  if (j.state === "done") {
    showMsg("");
    try {
      state.after = await imageFromApi("/v1/jobs/" + j.id + "/preview.jpg");
      if (!state.before) setBefore(await imageFromApi("/v1/jobs/" + j.id + "/before.jpg"));
      draw();
      const strip = await (await api("/v1/jobs/" + j.id + "/strip.png")).blob();
      $("strip").src = URL.createObjectURL(strip);
    } catch (e) { showMsg(e.message); }
    $("result").hidden = false;
    renderResultExtras(j);
    const m = { looks: t("method_looks"), clip: t("method_clip"), transfer: t("method_transfer") }[j.method] || "";
    const secs = j.timings && j.timings.run_s != null ? ` · ${t("took")} ${j.timings.run_s.toFixed(2)} s` : "";
    $("result-info").textContent = `${m}${j.understood ? " · " + j.understood : ""}${secs} · ${j.id}`;
  } else if (j.state === "failed") {
    showMsg(t("failed") + ": " + (j.error ? serverMessage(j.error) : ""));
  } else if (j.state === "cancelled") {
    showMsg(t("cancelled"), true);
  }
  loadRecent();
}

// a download through fetch (the token header goes along), named as the server says
// The file name of a Content-Disposition: filename*=UTF-8''... (RFC 6266: any characters, so a
// 咖啡.png stays 咖啡.png) before the ASCII fallback filename="..."
function downloadName(cd) {
  const star = cd.match(/filename\*\s*=\s*UTF-8''([^;\s]+)/i);
  if (star) { try { return decodeURIComponent(star[1]); } catch (e) { /* malformed: the fallback */ } }
  const m = cd.match(/filename\s*=\s*"([^"]+)"/);
  return m ? m[1] : "";
}
async function download(b, path, name) {
  const old = b.textContent; b.textContent = t("downloading"); b.disabled = true;
  try {
    const r = await apiPatient(path, 21, 0);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = downloadName(r.headers.get("Content-Disposition") || "") || name;
    document.body.appendChild(a); a.click(); a.remove();
  } catch (e) { showMsg(e.message); }
  b.textContent = old; b.disabled = false;
}
document.querySelectorAll("[data-dl]").forEach((b) => {
  b.onclick = async () => {
    if (!state.job || state.job.state !== "done") return;
    const what = b.dataset.dl;
    let path = "/v1/jobs/" + state.job.id + "/" + what;
    // the strength below 100% goes with every download: the LUT files blend with the identity as the photo does
    const k = $("strength").value / 100;
    if (k < 1 && (what === "graded" || /^(look\.cube|look\.3dl|hald\.png)$/.test(what))) path += "?strength=" + k;
    await download(b, path, what);
  };
});
function dlButton(label, path, name, cls) {
  const b = document.createElement("button"); b.type = "button"; b.className = cls || "ghost small"; b.textContent = label;
  b.onclick = () => download(b, typeof path === "function" ? path() : path, name);
  return b;
}
// what only some jobs have: a set's photos and contact sheet, each region's LUT and mask
function renderResultExtras(j) {
  const isSet = j.kind === "set", files = j.files || {};
  $("dl-graded").hidden = isSet;
  $("set-result").hidden = !isSet;
  if (isSet) {
    const photos = j.photos || [], ul = $("set-gallery");
    $("set-result-count").textContent = "· " + tn("n_photos_short", photos.length);
    if (ul.dataset.job !== j.id) {
      ul.textContent = ""; ul.dataset.job = j.id;
      photos.forEach((p, i) => {
        const li = document.createElement("li");
        const img = document.createElement("img"); img.alt = p.name; img.title = p.name; img.loading = "lazy";
        api(p.thumb).then((r) => r.blob()).then((b) => { img.src = URL.createObjectURL(b); }).catch(() => {});
        const cap = document.createElement("span"); cap.textContent = (i + 1) + " · " + p.name;
        const atStrength = () => { const k = $("strength").value / 100; return p.graded + (k < 1 ? "?strength=" + k : ""); };
        li.append(img, cap, dlButton(t("download"), atStrength, p.name));
        ul.appendChild(li);
      });
      api(files["contact.jpg"]).then((r) => r.blob()).then((b) => {
        const u = URL.createObjectURL(b); $("contact").src = u; $("contact-link").href = u;
      }).catch(() => {});
    } else {
      ul.querySelectorAll("li > button").forEach((b) => { b.textContent = t("download"); });
    }
  }
  const regions = j.regions || [];
  $("region-results").hidden = !regions.length;
  const rl = $("region-files"); rl.textContent = "";
  for (const r of regions) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = r.number + " · " + r.where + " → " + r.prompt;
    li.append(label, dlButton(t("region_lut"), r.lut, "region-" + r.number + ".cube"),
              dlButton(t("region_mask_dl"), r.mask, "mask-" + r.number + ".png"));
    rl.appendChild(li);
  }
  if (files["heatmap.png"]) {
    const li = document.createElement("li");
    li.append(dlButton(t("heatmap"), files["heatmap.png"], "heatmap.png"));
    rl.appendChild(li);
  }
}

// ---- recent jobs ----
// A card's picture: the first of `names` the server has; 503 (busy making one for someone else) is asked
// again a few times, as Retry-After says
async function cardPicture(img, id, names) {
  for (const name of names) {
    try { const b = await (await apiPatient("/v1/jobs/" + id + "/" + name, 8, 500)).blob(); img.src = URL.createObjectURL(b); return; }
    catch (e) { /* the next name, or none */ }
  }
}
async function loadRecent() {
  const ul = $("jobs");
  try {
    const j = await (await api("/v1/jobs?limit=12")).json();
    ul.textContent = "";
    if (!j.jobs.length) { const li = document.createElement("li"); li.className = "empty"; li.textContent = t("no_jobs"); ul.appendChild(li); return; }
    for (const job of j.jobs) {
      const li = document.createElement("li"); li.dataset.id = job.id;
      const img = document.createElement("img"); img.alt = ""; img.loading = "lazy";
      // done: the graded preview; queued or running: the photo itself; failed or cancelled: none
      const pics = job.state === "done" ? ["preview.jpg"] : job.state === "queued" || job.state === "running" ? ["before.jpg"] : [];
      if (pics.length) cardPicture(img, job.id, pics); else img.className = "none";
      const meta = document.createElement("div"); meta.className = "meta";
      const p = document.createElement("span"); p.className = "p"; p.textContent = job.prompt || job.photo_name || job.id; p.title = p.textContent;
      const st = document.createElement("span"); st.className = "state " + job.state; st.textContent = t(job.state === "running" ? "running" : job.state);
      meta.append(p, st);
      if (job.kind === "set" || (job.regions && job.regions.length)) {
        const k = document.createElement("span"); k.className = "kind";
        k.textContent = job.kind === "set" ? tn("n_photos_short", job.n_photos) : tn("n_regions", job.regions.length);
        meta.append(k);
      }
      li.append(img, meta);
      li.onclick = () => openJob(job);
      li.tabIndex = 0; li.setAttribute("role", "button");
      li.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openJob(job); } };
      ul.appendChild(li);
    }
  } catch (e) { /* the list is a convenience; errors show elsewhere */ }
}
async function openJob(job) {
  history.replaceState(null, "", "#job=" + job.id);
  state.job = job; state.file = null; state.files = []; state.losses = []; state.small = null;
  // Grade takes this job's photo again with a new prompt (a set's is not one photo)
  state.source = job.kind !== "set" && job.state !== "failed" && job.state !== "cancelled" ? { id: job.id, name: job.photo_name } : null;
  renderSetPicked();
  $("photo-name").textContent = job.photo_name || "";
  let asked = job.prompt || "";
  $("prompt").value = asked;
  showMsg(""); updateGo();
  // typing a new prompt while the job loads: the new prompt wins, the old result stays away
  const typed = () => $("prompt").value !== asked;
  try {
    const full = await (await api("/v1/jobs/" + job.id)).json();
    state.source = full.kind !== "set" && full.state !== "failed" && full.state !== "cancelled" ? { id: full.id, name: full.photo_name } : null;
    if (!typed()) {
      state.job = full; state.losses = full.losses || [];
      asked = full.prompt || ""; $("prompt").value = asked;
    }
    $("photo-name").textContent = full.photo_name || "";
    if (full.state !== "failed" && full.state !== "cancelled") {
      // the job's photo (640 px) is the before, and what a new prompt previews on
      try {
        const b = await (await apiPatient("/v1/jobs/" + job.id + "/before.jpg", 8, 500)).blob();
        state.small = b; setBefore(await loadImage(URL.createObjectURL(b)));
      } catch (e) { /* a nicety: the job opens without it */ }
    }
    if (typed()) previewLook();                       // the new prompt, now on this photo
    else if (full.state === "done") await finished(full);
    else { renderJobState(full); follow(job.id); }
  } catch (e) { showMsg(e.message); }
  updateGo();
}

applyLang();
loadRecent();
{ // a reload (or a shared address) with #job=ID: that job again, running or done
  const m = location.hash.match(/^#job=([0-9a-f]{8,32})$/);
  if (m) openJob({ id: m[1] });
}
