// DLUT's page in a real browser (Debian's Chromium through playwright-core):
// upload a photo, type a prompt and see the offline look, grade, watch the
// job finish, download the .cube (checked by FFmpeg and OpenColorIO in
// t_page.sh), switch to Chinese, try a phone-sized screen, and see a clear
// message for a file that is not an image. Screenshots go to $ARTIFACTS.
// With CLIP_URL (a server with a tiny random-weight CLIP model), a CLIP job
// through the page: live preview, progress and the loss plot while it runs.
// usage: node page.test.js URL ARTIFACTS PHOTO NOT_AN_IMAGE [CLIP_URL]
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [url, out, photo, junk, clipUrl] = process.argv.slice(2);
let failures = 0;
function check(cond, what) {
  console.log((cond ? "ok: " : "FAIL: ") + what);
  if (!cond) failures++;
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                          args: ["--no-sandbox", "--disable-gpu"] });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, locale: "en-US" });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  await page.goto(url);
  check((await page.textContent("#go")).trim() === "Grade", "the page speaks English for an English browser");
  check(await page.isDisabled("#go"), "Grade is disabled before a photo is chosen");

  // upload, type, see what the offline looks understood, with a preview
  await page.setInputFiles("#file", photo);
  await page.fill("#prompt", "cold teal night, high contrast");
  await page.waitForFunction(() => document.querySelector("#understood b") !== null, null, { timeout: 10000 });
  const understood = await page.textContent("#understood b");
  check(/teal/.test(understood), "typing shows what the prompt was understood as: " + understood);
  await page.waitForSelector("#split:not([hidden])", { timeout: 10000 });
  check(true, "a before/after preview appears while typing");
  // the strength slider changes the picture at once
  const px = () => page.evaluate(() => {
    const c = document.getElementById("canvas"), d = c.getContext("2d").getImageData(c.width - 3, c.height >> 1, 1, 1).data;
    return [d[0], d[1], d[2]];
  });
  const full = await px();
  await page.fill("#strength", "0");
  await page.dispatchEvent("#strength", "input");
  const none = await px();
  check(full.some((v, i) => Math.abs(v - none[i]) > 2), `strength 0 shows the original at once (${full} -> ${none})`);
  await page.fill("#strength", "100");
  await page.dispatchEvent("#strength", "input");
  // the look's colour slider: 0 sends color_strength=0 and the preview loses the teal
  await page.click("details.more summary");
  const resp = page.waitForResponse((r) => r.url().endsWith("/v1/looks"), { timeout: 10000 });
  await page.fill("#color_strength", "0");
  await page.dispatchEvent("#color_strength", "input");
  const lj = await (await resp).json();
  check(lj.params && lj.params.temp === 0 && lj.params.shadow_ab[0] === 0, "colour 0 asks the server for the look without its colour");
  await page.waitForTimeout(300);
  const nocolor = await px();
  check(nocolor.some((v, i) => Math.abs(v - full[i]) > 2), `colour 0 changes the preview (${full} -> ${nocolor})`);
  check((await page.textContent("#color-out")).trim() === "0%", "the colour slider shows its value");
  await page.fill("#color_strength", "100");
  await page.dispatchEvent("#color_strength", "input");
  check(await page.isChecked("#skin_protect"), "skin tones are protected by default");

  // grade and wait for the job
  await page.click("#go");
  await page.waitForSelector("#result:not([hidden])", { timeout: 60000 });
  const info = await page.textContent("#result-info");
  check(/offline look/.test(info), "the finished job says how it was graded: " + info);
  const stripOk = await page.evaluate(() => { const i = document.getElementById("strip"); return i.complete && i.naturalWidth > 0; });
  check(stripOk, "the LUT strip is shown");
  await page.screenshot({ path: path.join(out, "page-done.png"), fullPage: true });

  // download the .cube
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-dl="look.cube"]')]);
  const cube = path.join(out, "page-look.cube");
  await dl.saveAs(cube);
  check(fs.readFileSync(cube, "utf8").includes("LUT_3D_SIZE"), "the .cube downloads from the page: " + dl.suggestedFilename());
  const [dl2] = await Promise.all([page.waitForEvent("download"), page.click('[data-dl="graded"]')]);
  await dl2.saveAs(path.join(out, "page-graded" + path.extname(dl2.suggestedFilename())));
  check(/\.png$/.test(dl2.suggestedFilename()), "the full-resolution graded photo downloads in the photo's format");

  // recent jobs list the job with a thumbnail
  await page.waitForFunction(() => { const i = document.querySelector("#jobs li img"); return i && i.naturalWidth > 0; }, null, { timeout: 10000 });
  check(true, "recent jobs show a thumbnail");

  // a new prompt after the job: the old result (and its downloads) go away
  await page.fill("#prompt", "black and white, punchy");
  await page.waitForSelector("#result", { state: "hidden", timeout: 5000 });
  check(true, "typing a new prompt puts the finished job's result away");

  // Chinese
  await page.click("#lang");
  check((await page.textContent("#go")).trim() === "开始调色", "the language switch turns the page Chinese");
  await page.fill("#prompt", "温暖的日落胶片风");
  await page.waitForFunction(() => /暖|warm/.test((document.querySelector("#understood b") || {}).textContent || ""), null, { timeout: 10000 });
  check(true, "a Chinese prompt is understood: " + (await page.textContent("#understood b")));
  await page.screenshot({ path: path.join(out, "page-zh.png"), fullPage: true });

  // a file that is not an image: a clear message
  await page.setInputFiles("#file", junk);
  await page.waitForSelector("#msg:not([hidden])", { timeout: 5000 });
  check(/不是 DLUT 能读取的图片/.test(await page.textContent("#msg")), "a file that is not an image gets a message: " + (await page.textContent("#msg")));

  // a phone-sized screen: one column, nothing wider than the screen
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" });
  const p2 = await phone.newPage();
  await p2.goto(url);
  check((await p2.textContent("#go")).trim() === "开始调色", "a Chinese browser gets the Chinese page");
  await p2.setInputFiles("#file", photo);
  await p2.fill("#prompt", "日系清新");
  await p2.waitForSelector("#split:not([hidden])", { timeout: 10000 });
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, "nothing overflows a 390 px screen (" + overflow + " px)");
  await p2.screenshot({ path: path.join(out, "page-phone.png"), fullPage: true });

  if (clipUrl) {
    const p3 = await ctx.newPage();
    p3.on("pageerror", (e) => errors.push(e.message));
    await p3.goto(clipUrl);
    await p3.waitForFunction(() => /CLIP/.test(document.getElementById("server-info").textContent), null, { timeout: 5000 });
    check(true, "the page says a CLIP model is loaded");
    await p3.setInputFiles("#file", photo);
    await p3.fill("#prompt", "warm sunset film");
    await p3.click("summary");
    await p3.fill("#steps", "400");
    await p3.selectOption("#lut_size", "17");
    await p3.click("#go");
    await p3.waitForFunction(() => /\d+\/400/.test(document.getElementById("progress-text").textContent), null, { timeout: 30000 });
    await p3.waitForFunction(() => (document.getElementById("plot-line").getAttribute("points") || "").split(" ").length > 10, null, { timeout: 30000 });
    check(true, "while a CLIP job runs: progress " + (await p3.textContent("#progress-text")));
    check(await p3.isVisible("#cancel"), "a running job can be cancelled from the page");
    await p3.screenshot({ path: path.join(out, "page-clip-running.png"), fullPage: true });
    await p3.waitForSelector("#result:not([hidden])", { timeout: 120000 });
    const info = await p3.textContent("#result-info");
    check(/CLIP/.test(info), "the CLIP job finishes on the page: " + info);
    const pts = (await p3.getAttribute("#plot-line", "points")).split(" ").length;
    check(pts >= 100, "the loss plot has the job's steps (" + pts + " points)");
    await p3.screenshot({ path: path.join(out, "page-clip-done.png"), fullPage: true });
  }

  check(errors.length === 0, "no script errors (" + errors.join(" | ") + ")");
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
