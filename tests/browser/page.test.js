// DLUT's page in a real browser (Debian's Chromium through playwright-core):
// upload a photo, type a prompt and see the offline look, grade, watch the
// job finish, download the .cube (checked by FFmpeg and OpenColorIO in
// t_page.sh), switch to Chinese, try a phone-sized screen, and see a clear
// message for a file that is not an image. Regions (a row with a mask, its
// LUT and mask downloaded) and a set of photos (thumbnails, contact sheet,
// per-photo downloads), on a desktop and a phone, with DLUT_MASK (a matte of
// PHOTO's shape) and DLUT_SET (3 photos, comma-separated). Screenshots go to
// $ARTIFACTS.
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

  // an old job opened from the list: a new prompt previews on that job's photo, not on the last one picked;
  // the cards open from the keyboard, and Ctrl+Enter in the prompt grades
  {
    const square = (process.env.DLUT_SET || "").split(",").filter((f) => /astronaut/.test(f))[0];
    if (square) {
      const p6 = await ctx.newPage();
      p6.on("pageerror", (e) => errors.push(e.message));
      await p6.goto(url);
      await p6.setInputFiles("#file", square);           // 512 x 512
      await p6.fill("#prompt", "cold teal night");
      await p6.waitForSelector("#split:not([hidden])", { timeout: 10000 });
      await p6.focus("#prompt");
      await p6.keyboard.press("Control+Enter");
      await p6.waitForSelector("#result:not([hidden])", { timeout: 30000 });
      check(true, "Ctrl+Enter in the prompt grades");
      await p6.waitForFunction(() => document.querySelectorAll("#jobs li").length >= 2, null, { timeout: 10000 });
      await p6.focus("#jobs li:nth-child(2)");          // the earlier job, of the 3:2 photo
      await p6.keyboard.press("Enter");
      await p6.waitForFunction(() => /cold teal night|warm/.test(document.getElementById("prompt").value) &&
        document.getElementById("prompt").value !== "cold teal night", null, { timeout: 10000 });
      await p6.fill("#prompt", "black and white, punchy");
      await p6.waitForFunction(() => state.after && state.after.naturalWidth > 0 && state.small, null, { timeout: 10000 });
      await p6.waitForTimeout(600);
      const ratio = await p6.evaluate(() => state.after.naturalWidth / state.after.naturalHeight);
      check(Math.abs(ratio - 1) > 0.2, "a job opened by keyboard previews a new prompt on its own photo (aspect " + ratio.toFixed(2) + ", the last picked was square)");
      // and Grade takes that job's own photo again with the new prompt
      check(!(await p6.isDisabled("#go")), "Grade is open on an old job with a new prompt");
      await p6.click("#go");
      await p6.waitForFunction(() => state.job && state.job.prompt === "black and white, punchy" && state.job.state === "done" &&
        !document.getElementById("result").hidden, null, { timeout: 30000 });
      const regraded = await p6.evaluate(async () => (await (await fetch("/v1/jobs/" + state.job.id)).json()));
      check(regraded.prompt === "black and white, punchy" && /chelsea/.test(regraded.photo_name || ""),
            "the old job graded anew from its own photo: " + regraded.photo_name + " / " + regraded.prompt);
      // the address names the job: a reload opens it again
      const jobUrl = p6.url();
      await p6.reload();
      await p6.waitForFunction(() => /#job=[0-9a-f]+$/.test(location.href) && !document.getElementById("result").hidden &&
        document.getElementById("prompt").value.length > 0, null, { timeout: 15000 });
      check(/#job=/.test(jobUrl), "after a reload the job in the address (" + jobUrl.replace(/^.*#/, "#") + ") is open again");
      // a photo dropped anywhere on the page goes to the drop box, and does not replace the page
      const dt = await p6.evaluateHandle(() => { const d = new DataTransfer(); d.items.add(new File([new Uint8Array([1, 2, 3])], "x.txt", { type: "text/plain" })); return d; });
      await p6.dispatchEvent("#stage", "drop", { dataTransfer: dt });
      await p6.waitForSelector("#msg:not([hidden])", { timeout: 5000 });
      check(/^http/.test(p6.url()) && /image/i.test(await p6.textContent("#msg")), "a file dropped on the picture is read as a photo (here: not an image) and the page stays: " + (await p6.textContent("#msg")));
      // a file dropped on a file field (the reference) is that field's: the photo stays
      const before = await p6.textContent("#photo-name");
      await p6.click("details.more summary");
      const dt2 = await p6.evaluateHandle(() => { const d = new DataTransfer(); d.items.add(new File([new Uint8Array([137, 80, 78, 71])], "ref.png", { type: "image/png" })); return d; });
      await p6.dispatchEvent("#ref", "drop", { dataTransfer: dt2 });
      await p6.waitForTimeout(300);
      check((await p6.textContent("#photo-name")) === before, "a drop on the reference field leaves the photo as it was (" + before + ")");
      // a job the server does not have: the stream stops retrying and says so
      await p6.evaluate(() => { state.job = { id: "ffffffffffffffff", state: "running" }; follow("ffffffffffffffff"); });
      await p6.waitForFunction(() => /no job/.test(document.getElementById("msg").textContent) && !state.job, null, { timeout: 10000 });
      check(true, "a job stream answered 404 ends with the server's message: " + (await p6.textContent("#msg")));
      await p6.close();
    }
  }

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
  // a server error on the Chinese page: what it means in Chinese, then the server's words
  await p2.fill("#prompt", "xyzzy qwertyuiop");
  await p2.click("#go");
  await p2.waitForFunction(() => /输入有误/.test(document.getElementById("msg").textContent), null, { timeout: 10000 });
  check(true, "a refused prompt on the Chinese page: " + (await p2.textContent("#msg")).slice(0, 60));

  // ---- regions: a row with a mask, graded; its LUT and mask download ----
  const mask = process.env.DLUT_MASK, setPhotos = (process.env.DLUT_SET || "").split(",").filter(Boolean);
  if (mask && setPhotos.length >= 3) {
    const p4 = await ctx.newPage();
    p4.on("pageerror", (e) => errors.push(e.message));
    await p4.goto(url);
    await p4.evaluate(() => localStorage.setItem("dlut.lang", "en"));   // this context switched to Chinese above
    await p4.reload();
    await p4.setInputFiles("#file", photo);
    await p4.fill("#prompt", "warm golden film");
    await p4.click("#regions-box summary");
    await p4.click("#region-add");
    // a place in words on a server without a model: the page says a mask is needed
    await p4.fill("#region-rows li:nth-child(1) .region-where", "the sky");
    await p4.fill("#region-rows li:nth-child(1) .region-look", "deep teal");
    await p4.click("#go");
    await p4.waitForSelector("#msg:not([hidden])", { timeout: 5000 });
    check(/mask/.test(await p4.textContent("#msg")), "a text region without a model: " + (await p4.textContent("#msg")));
    await p4.setInputFiles("#region-rows li:nth-child(1) .region-mask-file", mask);
    // the row takes the mask once its change handler has read the file (asynchronous): wait for it, then check
    const maskTaken = await p4.waitForSelector("#region-rows li:nth-child(1) .region-where:disabled", { timeout: 5000 }).then(() => true, () => false);
    check(maskTaken && await p4.isDisabled("#region-rows li:nth-child(1) .region-where"), "a mask replaces the words of its row");
    check((await p4.textContent("#region-count")).includes("1"), "the regions box counts its rows: " + (await p4.textContent("#region-count")));
    await p4.fill("#feather", "16");
    // the live preview shows the mask's region in its look: the right half (the mask) turns teal against the
    // left (warm golden film): its mean blue minus red rises well above the left half's
    await p4.waitForFunction(() => state.after && state.after.tagName === "CANVAS", null, { timeout: 10000 });
    const halves = await p4.evaluate(() => {
      const c = state.after, d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, w = c.width;
      let l = 0, r = 0, nl = 0, nr = 0;
      for (let i = 0; i < d.length; i += 4) {
        const x = (i / 4) % w, v = d[i + 2] - d[i];
        if (x < w * 0.4) { l += v; nl++; } else if (x > w * 0.6) { r += v; nr++; }
      }
      return [l / nl, r / nr];
    });
    check(halves[1] - halves[0] > 15, "the live preview grades the masked half in its own look (blue - red: left " +
          halves[0].toFixed(1) + ", right " + halves[1].toFixed(1) + ")");
    await p4.click("#go");
    await p4.waitForSelector("#region-results:not([hidden])", { timeout: 60000 });
    // what the server was sent, from the job it made
    const rjob = await p4.evaluate(async () => (await fetch("/v1/jobs/" + state.job.id)).json());
    const rr = (rjob.regions || [])[0] || {};
    check(rjob.options.feather === "16" && rr.kind === "mask" && rr.where === "right-half.png" && rr.prompt === "deep teal",
          "the page sent the mask, its look and the feather: " + JSON.stringify(rjob.regions));
    const rtext = await p4.textContent("#region-files");
    check(/1 · right-half\.png → deep teal/.test(rtext), "the finished job lists its region: " + rtext.trim());
    const [rdl] = await Promise.all([p4.waitForEvent("download"), p4.click("#region-files li:nth-child(1) button:nth-of-type(1)")]);
    const rcube = path.join(out, "page-region-1.cube");
    await rdl.saveAs(rcube);
    check(fs.readFileSync(rcube, "utf8").includes("LUT_3D_SIZE") && /region-1\.cube$/.test(rdl.suggestedFilename()),
          "region 1's LUT downloads: " + rdl.suggestedFilename());
    const [mdl] = await Promise.all([p4.waitForEvent("download"), p4.click("#region-files li:nth-child(1) button:nth-of-type(2)")]);
    await mdl.saveAs(path.join(out, "page-mask-1.png"));
    check(/mask-1\.png$/.test(mdl.suggestedFilename()), "and its mask: " + mdl.suggestedFilename());
    check(!(await p4.isHidden("#dl-graded")), "a region job still offers the graded (composite) photo");
    await p4.screenshot({ path: path.join(out, "page-region.png"), fullPage: true });

    // ---- a set: several photos, one look ----
    await p4.setInputFiles("#file", setPhotos);
    await p4.waitForSelector("#set-picked:not([hidden])", { timeout: 5000 });
    check((await p4.$$("#set-thumbs li img")).length === setPhotos.length, "picking " + setPhotos.length + " photos shows each as a thumbnail");
    // the name line is written after the thumbnails are decoded: wait for it (a race on a loaded machine)
    await p4.waitForFunction((n) => (document.querySelector("#photo-name").textContent || "").includes(String(n)), setPhotos.length, { timeout: 5000 }).catch(() => {});
    const setName = await p4.textContent("#photo-name");
    check(new RegExp(String(setPhotos.length)).test(setName), "and says a set will be graded: " + setName);
    // a thumbnail previews the look on that photo (the third, astronaut.png, is square; the first is 3:2)
    await p4.click("#set-thumbs li:nth-child(3)");
    await p4.waitForFunction(() => state.before && Math.abs(state.before.naturalWidth / state.before.naturalHeight - 1) < 0.05, null, { timeout: 10000 });
    check((await p4.$$("#set-thumbs li.on")).length === 1 && (await p4.$$("#set-thumbs li")).length === setPhotos.length,
          "a set's thumbnail previews that photo, and the set stays whole");
    await p4.click("#set-thumbs li:nth-child(1)");
    await p4.waitForFunction(() => state.before && state.before.naturalWidth / state.before.naturalHeight > 1.2, null, { timeout: 10000 });
    await p4.fill("#prompt", "cold teal night");
    await p4.click("#go");
    await p4.waitForSelector("#msg:not([hidden])", { timeout: 5000 });
    check(/one photo|一张照片/.test(await p4.textContent("#msg")), "regions with a set: " + (await p4.textContent("#msg")));
    await p4.click("#region-rows li:nth-child(1) .region-remove");
    await p4.click("#go");
    await p4.waitForSelector("#set-result:not([hidden])", { timeout: 60000 });
    const sjob = await p4.evaluate(async () => (await fetch("/v1/jobs/" + state.job.id)).json());
    check(sjob.kind === "set" && sjob.n_photos === 3 && !sjob.regions, "the page sent the 3 photos as one set job, without the region");
    await p4.waitForFunction(() => [...document.querySelectorAll("#set-gallery img")].filter((i) => i.naturalWidth > 0).length === 3
                             && document.getElementById("contact").naturalWidth > 0, null, { timeout: 15000 });
    check(true, "the set's thumbnails and contact sheet are shown");
    check(await p4.isHidden("#dl-graded") && await p4.isHidden("#region-results"), "a set offers per-photo downloads instead of one graded photo");
    const [pdl] = await Promise.all([p4.waitForEvent("download"), p4.click("#set-gallery li:nth-child(2) button")]);
    await pdl.saveAs(path.join(out, "page-set-2" + path.extname(pdl.suggestedFilename())));
    check(pdl.suggestedFilename() === path.basename(setPhotos[1]), "photo 2 downloads under its own name: " + pdl.suggestedFilename());
    await p4.screenshot({ path: path.join(out, "page-set.png"), fullPage: true });
    await p4.click("#lang");
    check((await p4.textContent("#set-result h3 span")).trim() === "所有照片，同一风格", "the set's result speaks Chinese too");
    await p4.screenshot({ path: path.join(out, "page-set-zh.png"), fullPage: true });

    // the same on a phone: the recent job opens as a set, nothing overflows
    const p5 = await phone.newPage();
    await p5.goto(url);
    await p5.setInputFiles("#file", setPhotos);
    await p5.click("#regions-box summary");
    await p5.click("#region-add");
    await p5.waitForSelector("#set-picked:not([hidden])", { timeout: 5000 });
    const ov1 = await p5.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await p5.screenshot({ path: path.join(out, "page-phone-controls.png"), fullPage: true });
    await p5.click("#jobs li:first-child");
    await p5.waitForSelector("#set-result:not([hidden])", { timeout: 15000 });
    await p5.waitForFunction(() => document.getElementById("contact").naturalWidth > 0, null, { timeout: 15000 });
    const ov2 = await p5.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(ov1 <= 0 && ov2 <= 0, `a set and a region row fit a 390 px screen (${ov1}, ${ov2} px over)`);
    await p5.screenshot({ path: path.join(out, "page-phone-set.png"), fullPage: true });
  }

  // a server with --token: the page itself opens, says how to give the token, and works with #token=
  const tokenUrl = process.env.DLUT_TOKEN_URL;
  if (tokenUrl) {
    const pt = await ctx.newPage();   // 401s log console errors by design: not this test's `errors`
    pt.on("pageerror", (e) => errors.push(e.message));
    await pt.goto(tokenUrl);
    check((await pt.textContent("#go")).trim().length > 0, "a server with a token still serves its page");
    await pt.waitForSelector("#msg:not([hidden])", { timeout: 5000 }).catch(() => {});
    const tmsg = (await pt.textContent("#msg")) || "";
    check(/#token=/.test(tmsg), "and the page says how to give the token: " + tmsg);
    await pt.goto(tokenUrl + "#token=" + process.env.DLUT_TOKEN);
    await pt.reload();   // the fragment alone does not reload: the token is read from it once, then kept for the tab
    check(!/#token/.test(pt.url()), "the token is taken out of the address bar: " + pt.url());
    await pt.setInputFiles("#file", photo);
    await pt.fill("#prompt", "warm sunset film");
    await pt.waitForSelector("#split:not([hidden])", { timeout: 10000 });
    await pt.click("#go");
    await pt.waitForSelector("#result:not([hidden])", { timeout: 30000 });
    const tinfo = await pt.textContent("#result-info");
    check(/offline look/.test(tinfo), "with the token the page grades: " + tinfo);
  }

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
    // its card in the recent jobs shows the photo, not an empty box
    await p3.waitForFunction(() => { const i = document.querySelector("#jobs li img"); return i && i.naturalWidth > 0; }, null, { timeout: 10000 });
    check(true, "the running job's card shows its photo");
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
