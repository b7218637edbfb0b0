// The web page of `yolonas serve` in a real browser (Debian's chromium, headless, driven by npm
// playwright-core): load the page, upload dog.jpg, check that boxes are drawn, that the confidence
// slider and the class filter change them without a new request, and keep a screenshot.
//   node page_test.js URL IMAGE SCREENSHOT.png
"use strict";
const path = require("path");
const fs = require("fs");

const [url, image, screenshot] = process.argv.slice(2);
const modules = process.env.YOLONAS_WEB_MODULES || path.join(__dirname, "../../third_party/web/node_modules");
const { chromium } = require(path.join(modules, "playwright-core"));

function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok: " + what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    let detectRequests = 0;
    page.on("request", (r) => { if (r.url().includes("/v1/detect")) detectRequests++; });

    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => !document.getElementById("model").textContent.startsWith("loading"));
    const header = await page.textContent("#model");
    check(/classes/.test(header), `the page shows the model: "${header}"`);

    await page.setInputFiles("#file", image);
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 60000 });
    const boxes = async () => Number(await page.getAttribute("#canvas", "data-boxes"));
    const pixels = () => page.evaluate(() => document.getElementById("canvas").toDataURL("image/png"));
    const total = await page.evaluate(() => window.yolonas.detections.length);
    const atDefault = await boxes();
    check(total > 0, `the server answered ${total} detections (conf >= 0.01)`);
    check(atDefault > 0, `${atDefault} boxes drawn at the default confidence 0.25`);
    const canvasSize = await page.evaluate(() => [document.getElementById("canvas").width, document.getElementById("canvas").height]);
    check(canvasSize[0] === 768 && canvasSize[1] === 576, `the canvas has the photo's size ${canvasSize}`);
    const withBoxes = await pixels();
    await page.screenshot({ path: screenshot });
    check(fs.statSync(screenshot).size > 10000, `screenshot written: ${screenshot}`);

    // The slider: End -> 1.00 (nothing drawn), Home -> 0.01 (everything the server sent).
    await page.focus("#conf");
    await page.keyboard.press("End");
    check((await page.textContent("#confval")) === "1.00", "the slider moved to 1.00");
    check((await boxes()) === 0, "no box drawn at confidence 1.00");
    const noBoxes = await pixels();
    check(noBoxes !== withBoxes, "the drawn pixels changed with the slider");
    await page.keyboard.press("Home");
    const atMin = await boxes();
    check(atMin === total && atMin > atDefault, `${atMin} boxes drawn at 0.01 (all ${total} sent)`);

    // The class filter: unticking the first class hides its boxes.
    const first = await page.getAttribute("#classes input", "data-name");
    const ofFirst = await page.evaluate((n) => window.yolonas.detections.filter((d) => d.name === n).length, first);
    await page.click("#classes input");
    check((await boxes()) === atMin - ofFirst, `unticking '${first}' hides its ${ofFirst} boxes`);
    await page.click("#all");
    check((await boxes()) === atMin, "'all' shows them again");

    check(detectRequests === 1, `one detection request in all (${detectRequests}): slider and filter work in the page`);
    const stats = await page.textContent("#stats");
    check(/round trip \d+ ms/.test(stats), `latency shown: ${stats.replace(/\n/g, " | ")}`);
    check(errors.length === 0, "no JavaScript errors" + (errors.length ? ": " + errors.join("; ") : ""));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
