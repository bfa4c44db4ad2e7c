// The web build's tests in a real browser: Debian's Chromium, headless, driven by Playwright
// (playwright-core), against target/web served on localhost. Run by tools/web/test.sh, which
// builds the page and writes the desktop's traces first:
//   node tools/web/test.mjs CASES.json [SCREENSHOT.png]   (and SCREENSHOT-webgpu.png: the WebGPU page)
// CASES.json: { text, trace, new_text, picked: { dir, trace }, hub: { id, dir, trace } } — the
// page first runs albert-mini on `text` (`trace`: the desktop CPU backend's trace of it), then
// `new_text` is typed; the model folder `picked.dir`'s files are opened through the page's file
// dialog, and `hub.dir` is served as Hub model `hub.id` by a stand-in Hub and opened by id; each
// `trace` is the desktop's of that model on `new_text`. Last, a scene is saved (a download),
// edited and opened again through the page's file dialog.
// Exit 0 when every check passes. Each check prints one line; timings are printed, not judged,
// except the first attention, which must be on screen within FIRST_ATTENTION_MS.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { serve, fakeHub } from './serve.mjs';

const FIRST_ATTENTION_MS = 10_000;
const TOLERANCE = 1e-5;
// a frame of the app's own work longer than this is a hitch a typist notices
const INTERACTIVE_MS = 250;
// and longer than this, a freeze (a corpus run steps a shard a frame: about 0.1–0.25 s here)
const NO_FREEZE_MS = 500;
const VIEWPORT = { width: 1280, height: 800 };

const [casesPath, screenshotPath] = process.argv.slice(2);
if (!casesPath) {
  console.error('usage: node tools/web/test.mjs CASES.json [SCREENSHOT.png]');
  process.exit(2);
}
const CASES = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const { text: TEXT, new_text: NEW_TEXT, trace: tracePath } = CASES;

let failed = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed += 1;
}

/** The F32 tensors of a safetensors file, by name: { shape, data }. */
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const data = new Float32Array(bytes.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
    out[name] = { shape: t.shape, data };
  }
  return out;
}

/** The RGBA pixels of an 8-bit, non-interlaced PNG (what Chromium's screenshots are). */
function decodePng(buf) {
  let pos = 8;
  let width = 0, height = 0, colorType = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      colorType = data[9];
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    pos += 12 + len;
  }
  const channels = { 2: 3, 6: 4 }[colorType];
  if (!channels) throw new Error(`PNG colour type ${colorType}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) px[(y * width + x) * 4 + k] = cur[x * channels + k];
      px[(y * width + x) * 4 + 3] = channels === 4 ? cur[x * channels + 3] : 255;
    }
    prev = cur;
  }
  return { width, height, px };
}

/** How many pixels of the screenshot are coloured (the UI's chrome is grey; maps are not). */
function colouredPixels(png) {
  const { px } = decodePng(png);
  let n = 0;
  for (let i = 0; i < px.length; i += 4) {
    const r = px[i], g = px[i + 1], b = px[i + 2];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) n += 1;
  }
  return n;
}

async function summary(page) {
  const s = await page.evaluate(() => (window.albertLens ? window.albertLens.summary() : ''));
  return s ? JSON.parse(s) : null;
}

/** Waits until `pred(summary)` holds; the summary, or null after `ms`. */
async function waitSummary(page, pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = await summary(page);
    if (s && pred(s)) return s;
    await page.waitForTimeout(50);
  }
  return null;
}

/** The first widget on screen that `pred({role, label, value, rect})` picks, waited for. */
async function widget(page, pred, ms = 5_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const list = JSON.parse(await page.evaluate(() => window.albertLens.widgets()));
    const w = list.find(pred);
    if (w) return w;
    await page.waitForTimeout(100);
  }
  return null;
}

async function click(page, w) {
  const [x, y, width, height] = w.rect;
  await page.mouse.click(x + width / 2, y + height / 2);
}

/** Starts measuring: the longest wait between the browser's animation frames (the page's
 *  longest freeze, the browser's drawing included: SwiftShader draws on the CPU here) and the
 *  longest frame of the app's own work (its models and analyses included). */
async function startGapMeter(page) {
  await page.evaluate(() => {
    window.albertLens.longestFrame();
    const m = (window.__gap = { max: 0, last: performance.now(), on: true });
    const tick = (t) => {
      m.max = Math.max(m.max, t - m.last);
      m.last = t;
      if (m.on) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

/** { gap, app }: the two longest times since startGapMeter, in ms. */
async function stopGapMeter(page) {
  return page.evaluate(() => {
    window.__gap.on = false;
    return { gap: Math.round(window.__gap.max), app: Math.round(window.albertLens.longestFrame()) };
  });
}

/** Checks that the page's attention (a summary) equals a desktop trace's, value by value. */
function sameAttention(summary, deskPath, what) {
  const desk = readSafetensors(deskPath);
  const layers = Object.keys(desk).filter((k) => k.startsWith('attentions.')).length;
  check(layers === summary.attentions.length && layers > 0,
    `${what}: as many attention maps as the desktop: ${summary.attentions.length} and ${layers}`);
  let worst = 0, count = 0;
  for (let j = 0; j < layers; j++) {
    const d = desk[`attentions.${j}`].data;
    const w = summary.attentions[j] || [];
    if (w.length !== d.length) {
      worst = Infinity;
      break;
    }
    for (let i = 0; i < d.length; i++) {
      worst = Math.max(worst, Math.abs(d[i] - w[i]));
      count += 1;
    }
  }
  check(worst <= TOLERANCE, `${what} equals the desktop CPU backend's: max |diff| ${worst.toExponential(2)} over ${count} values (tolerance ${TOLERANCE})`);
}

/** A menu item, once its menu has been drawn for real: egui lays a new menu out in an unseen
 *  first frame (its sizing pass), whose widgets take no clicks, so the item is looked for
 *  again a few frames later. */
async function menuItem(page, pred) {
  if (!(await widget(page, pred))) return null;
  await page.waitForTimeout(600);
  return widget(page, pred);
}

/** Opens Model > Open files… (or another menu's item: `menuLabel` > `itemLabel`) and gives
 *  the browser's file dialog `files`: the browser's own chooser, or rfd's card with its file
 *  input where the click's user activation has run out. One listener catches the chooser
 *  however late it opens; a click that opened nothing within 8 s (it happens now and then
 *  after the corpus run, with SwiftShader's slow frames) is tried again, at most three times,
 *  and the tries are printed. */
async function pickFiles(page, files, menuLabel = 'Model', itemLabel = 'Open files…') {
  let chooser = null;
  const caught = (c) => { chooser = chooser || c; };
  page.on('filechooser', caught);
  let card = false, tries = 0;
  try {
    while (!chooser && !card && tries < 3) {
      tries += 1;
      // no menu: the item is a button on screen
      if (menuLabel) {
        const menu = await widget(page, (w) => w.label === menuLabel && w.role !== 'Label');
        if (!menu) break;
        await click(page, menu);
      }
      const isItem = (w) => w.label === itemLabel && w.role !== 'Label';
      const item = menuLabel ? await menuItem(page, isItem) : await widget(page, isItem);
      if (!item) break;
      await click(page, item);
      const end = Date.now() + 8_000;
      while (!chooser && !card && Date.now() < end) {
        await page.waitForTimeout(100);
        card = await page.evaluate(() => !!document.querySelector('#rfd-overlay:not(.hidden)'));
      }
      if (!chooser && !card) await page.keyboard.press('Escape');
    }
    if (chooser) await chooser.setFiles(files);
    else if (card) await page.locator('#rfd-input').last().setInputFiles(files);
  } finally {
    page.off('filechooser', caught);
  }
  const how = chooser ? "the browser's chooser" : "rfd's card";
  check(chooser !== null || card, `${menuLabel ? menuLabel + ' > ' : ''}${itemLabel} opened the browser's file dialog${chooser || card ? `, which took ${files.length} file(s) (${how}; click ${tries} of at most 3)` : ` (${tries} clicks)`}`);
  return chooser !== null || card;
}

/** Opens Model > Open from Hugging Face Hub…, types `id` into its box and presses Open. */
async function openFromHub(page, id) {
  const menu = await widget(page, (w) => w.label === 'Model' && w.role !== 'Label');
  if (menu) await click(page, menu);
  const item = menu && (await menuItem(page, (w) => w.label === 'Open from Hugging Face Hub…'));
  check(item !== null, 'the Model menu has Open from Hugging Face Hub…');
  if (!item) return false;
  await click(page, item);
  const box = await menuItem(page, (w) => w.role.includes('TextInput') && w.value === 'albert-base-v2');
  const open = await widget(page, (w) => w.label === 'Open' && w.role === 'Button');
  check(box !== null && open !== null, 'the Hub dialog has its id box and Open button');
  if (!box || !open) return false;
  await click(page, box);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(id, { delay: 10 });
  await click(page, open);
  return true;
}

async function waitFor(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const { server, url } = await serve(path.join(path.dirname(new URL(import.meta.url).pathname), '../../target/web'));
const hub = await fakeHub({ [CASES.hub.id]: CASES.hub.dir });
const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // WebGL2 on the CPU (SwiftShader): eframe draws with it where there is no GPU
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

/** A fresh headless Chromium (its own profile folder, removed by `close`). */
async function launch(extraArgs = []) {
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'albert-lens-chromium-'));
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: VIEWPORT,
    acceptDownloads: true,
    args: [...ARGS, ...extraArgs],
  });
  const close = async () => {
    await context.close();
    fs.rmSync(userData, { recursive: true, force: true });
  };
  return { context, close };
}

const { context, close } = await launch();
try {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    // the browser logs every 401 / 404 it gets as an error: the Hub's answers for a file a
    // model does not have, or an id it does not know, are answers the page reads, not errors
    const fromHub = (m.location().url || '').startsWith(hub.url);
    if (m.type() === 'error' && !fromHub) errors.push(m.text());
  });

  // 1. the page loads and the first attention is on screen in time
  const t0 = Date.now();
  await page.goto(`${url}?tab=attention&view=heatmap&text=${encodeURIComponent(TEXT)}&hf_endpoint=${encodeURIComponent(hub.url)}`);
  const first = await waitSummary(page, (s) => s.text === TEXT, FIRST_ATTENTION_MS * 3);
  const firstMs = Date.now() - t0;
  check(first !== null, `the page ran the model on the example sentence (${firstMs} ms after navigation)`);
  if (!first) throw new Error(`no forward pass; page errors: ${errors.join(' | ')}`);
  check(firstMs <= FIRST_ATTENTION_MS, `first attention within ${FIRST_ATTENTION_MS} ms of navigation: ${firstMs} ms`);

  // 2. the heatmap is drawn: coloured pixels on the canvas (a grey page has none)
  let coloured = 0;
  await waitFor(async () => {
    coloured = colouredPixels(await page.screenshot());
    return coloured > 5000;
  }, 10_000);
  check(coloured > 5000, `the attention heatmap is drawn: ${coloured} coloured pixels`);
  if (screenshotPath) await page.screenshot({ path: screenshotPath });

  // 3. the page's numbers equal the desktop CPU backend's
  sameAttention(first, tracePath, 'attention');

  // 4. typing a sentence re-runs the model: select the text box's text and type another
  const box = await widget(page, (w) => w.role.includes('TextInput') && w.value === TEXT);
  check(box !== null, `the text box is on screen${box ? ' at ' + box.rect.map(Math.round) : ''}`);
  await startGapMeter(page);
  if (box) {
    await click(page, box);
    await page.keyboard.press('Control+A');
    await page.keyboard.type(NEW_TEXT, { delay: 10 });
  }
  const retyped = await waitSummary(page,
    (s) => s.text === NEW_TEXT && s.tokens.includes('france'), 10_000);
  const typing = await stopGapMeter(page);
  check(retyped !== null && retyped.tokens.includes('paris'),
    `typing re-ran the model: ${retyped ? retyped.tokens.join(' ') : 'no new forward pass'}`);
  check(typing.app <= INTERACTIVE_MS,
    `typing stays interactive (a forward pass of both models per key): the app's longest frame ${typing.app} ms (at most ${INTERACTIVE_MS}); the longest wait between the browser's frames ${typing.gap} ms`);

  // 5. a tab switch: the Projection tab's label, clicked, and back
  const tabOpened = async (id) => waitFor(async () =>
    (await page.evaluate(() => window.albertLens.tab())) === id, 5_000);
  const projection = await widget(page, (w) => /^Projection/.test(w.label || ''));
  check(projection !== null, 'the Projection tab is on screen');
  if (projection) {
    await click(page, projection);
    check(await tabOpened('projection'), 'clicking the Projection tab opened it');
    const attention = await widget(page, (w) => /^Attention/.test(w.label || ''));
    if (attention) await click(page, attention);
    check(attention !== null && (await tabOpened('attention')), 'and the Attention tab came back');
  }

  // 6. an export downloads a file: Export > PNG 1x…
  const exportButton = await widget(page, (w) => w.label === 'Export');
  check(exportButton !== null, 'the Export button is on screen');
  const downloaded = page.waitForEvent('download', { timeout: 15_000 });
  if (exportButton) await click(page, exportButton);
  const item = await menuItem(page, (w) => w.label === 'PNG 1x…');
  check(item !== null, 'the Export menu has PNG 1x…');
  if (item) await click(page, item);
  const download = await downloaded.catch(() => null);
  let bytes = null;
  if (download) bytes = fs.readFileSync(await download.path());
  check(download !== null && download.suggestedFilename() === 'albert-lens.png'
    && bytes !== null && bytes.subarray(1, 4).toString() === 'PNG',
    `the export downloaded ${download ? download.suggestedFilename() : 'nothing'} (${bytes ? bytes.length : 0} bytes)`);

  // 7. the corpus tab runs the built-in corpus, capped in the web build
  const corpusTab = await widget(page, (w) => /^Corpus/.test(w.label || '') && w.role !== 'Label');
  if (corpusTab) await click(page, corpusTab);
  const run = await widget(page, (w) => w.label === '▶ Run corpus', 10_000);
  check(run !== null, 'the Corpus tab has its Run button');
  if (run) {
    await startGapMeter(page);
    const t = Date.now();
    await click(page, run);
    const ran = await widget(page, (w) => /^albert-mini .* on .*: 200 texts/.test(w.label || w.value || ''), 120_000);
    const ms = Date.now() - t;
    const busy = await stopGapMeter(page);
    check(ran !== null, `the corpus ran at the web build's cap of 200 texts in ${ms} ms: ${ran ? (ran.label || ran.value).split(' (')[0] : 'no result'}`);
    check(busy.app <= NO_FREEZE_MS,
      `the corpus run never freezes the page (a shard a frame): the app's longest frame ${busy.app} ms (at most ${NO_FREEZE_MS}); the longest wait between the browser's frames ${busy.gap} ms`);
  }

  // 7b. a corpus file of the user's, picked in the browser's file dialog (Choose file…), runs:
  // every line is a text, and the page read the whole file (the run's corpus identity carries
  // the first 16 hex digits of the SHA-256 of what it read, computed here from the file)
  {
    const lines = ['The first text of my corpus.', 'A second one,\twith a pair.', 'And a third.',
      'Four is enough.', 'Five texts in all.'];
    const corpusFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'albert-lens-corpus-')), 'my-corpus.tsv');
    fs.writeFileSync(corpusFile, lines.join('\n') + '\n');
    const hex = crypto.createHash('sha256').update(fs.readFileSync(corpusFile)).digest('hex').slice(0, 16);
    if (await pickFiles(page, [corpusFile], null, 'Choose file…')) {
      const chosen = await widget(page, (w) => /file: picked:my-corpus\.tsv/.test(w.label || ''), 10_000);
      const again = await widget(page, (w) => w.label === '▶ Run corpus', 10_000);
      if (chosen && again) await click(page, again);
      const want = new RegExp(`^albert-mini .* on picked:my-corpus\\.tsv@${hex}: ${lines.length} texts`);
      const ran = await widget(page, (w) => want.test(w.label || w.value || ''), 60_000);
      check(chosen !== null && ran !== null,
        `a corpus file picked in the page ran, all of it: ${ran ? (ran.label || ran.value).split(' (')[0] : chosen ? 'no result' : 'the file was not chosen'}`);
    }
  }

  // 8. the user's own model: its files picked in the browser's dialog (here a SentencePiece
  // ALBERT with bf16 weights), run, and equal to the desktop's run of the same folder; files
  // without a config.json are refused with a message that says so
  const pickedFiles = fs.readdirSync(CASES.picked.dir).map((f) => path.join(CASES.picked.dir, f));
  if (await pickFiles(page, pickedFiles.filter((f) => !f.endsWith('config.json')))) {
    const refused = await widget(page, (w) => /not a whole model: there is no config\.json/.test(`${w.label || ''} ${w.value || ''}`), 15_000);
    check(refused !== null, `files without a config.json are refused, saying so: ${refused ? (refused.label || refused.value) : 'no message'}`);
  }
  if (await pickFiles(page, pickedFiles)) {
    const picked = await waitSummary(page,
      (s) => /\(picked files\)/.test(s.model) && s.text === NEW_TEXT, 30_000);
    check(picked !== null, `the picked model ran on the text: ${picked ? picked.model + ': ' + picked.tokens.join(' ') : 'no forward pass'}`);
    if (picked) sameAttention(picked, CASES.picked.trace, 'the picked model\'s attention');
  }

  // 9. a Hub model by its id, fetched by the page from a stand-in Hub on another origin (its
  // weights behind a redirect, as the Hub's CDN is); an id the Hub does not have is refused
  // with a message that names it
  if (await openFromHub(page, 'nobody/no-such-model')) {
    const refused = await widget(page, (w) => /nobody\/no-such-model: no such model/.test(`${w.label || ''} ${w.value || ''}`), 15_000);
    check(refused !== null, `an id the Hub does not have is refused, saying so: ${refused ? (refused.label || refused.value) : 'no message'}`);
  }
  if (await openFromHub(page, CASES.hub.id)) {
    const fetched = await waitSummary(page,
      (s) => s.model === `hub:${CASES.hub.id}` && s.text === NEW_TEXT, 30_000);
    check(fetched !== null, `the Hub model ran on the text: ${fetched ? fetched.model + ': ' + fetched.tokens.join(' ') : 'no forward pass'}`);
    if (fetched) sameAttention(fetched, CASES.hub.trace, 'the Hub model\'s attention');
  }

  // 10. scenes: File > Save scene… downloads the scene of what the page shows; that file with
  // another text and the built-in model, picked with File > Open scene…, opens and runs; a file
  // that is not a scene is refused with a message that says so
  const fileMenu = await widget(page, (w) => w.label === 'File' && w.role !== 'Label');
  const sceneSaved = page.waitForEvent('download', { timeout: 15_000 });
  if (fileMenu) await click(page, fileMenu);
  const saveItem = fileMenu && (await menuItem(page, (w) => w.label === 'Save scene…'));
  check(saveItem !== null, 'the File menu has Save scene…');
  if (saveItem) await click(page, saveItem);
  const sceneFile = saveItem ? await sceneSaved.catch(() => null) : null;
  let scene = null;
  try {
    if (sceneFile) scene = JSON.parse(fs.readFileSync(await sceneFile.path(), 'utf8'));
  } catch (e) {
    scene = null;
  }
  check(scene !== null && scene.format === 'albert-lens scene' && sceneFile.suggestedFilename() === 'scene.json',
    `File > Save scene… downloaded ${sceneFile ? sceneFile.suggestedFilename() : 'nothing'}: ${scene ? `a scene of the ${scene.figure[0]} tab's ${scene.figure[1]} view, text "${scene.session.text}"` : 'not a scene'}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'albert-lens-scene-'));
  const notScene = path.join(dir, 'notes.json');
  fs.writeFileSync(notScene, JSON.stringify({ hello: 'world' }));
  if (await pickFiles(page, [notScene], 'File', 'Open scene…')) {
    const refused = await widget(page, (w) => /notes\.json is not a scene/.test(`${w.label || ''} ${w.value || ''}`), 15_000);
    check(refused !== null, `a JSON file that is not a scene is refused, saying so: ${refused ? (refused.label || refused.value) : 'no message'}`);
  }
  if (scene) {
    const sceneText = 'A scene opens in the page too.';
    scene.session.text = sceneText;
    scene.main = { Builtin: 'albert-mini' };
    const picked = path.join(dir, 'lesson.json');
    fs.writeFileSync(picked, JSON.stringify(scene));
    if (await pickFiles(page, [picked], 'File', 'Open scene…')) {
      const opened = await waitSummary(page, (s) => s.text === sceneText && /albert-mini/.test(s.model), 30_000);
      check(opened !== null, `the picked scene opened and its text ran: ${opened ? opened.model + ': ' + opened.tokens.join(' ') : 'no forward pass'}`);
    }
  }

  // 12. decks: View > Deck panel; its Open… takes a deck file from the browser's file dialog,
  // and a click on its slide shows the slide's scene in the window (its text runs); Present
  // is off in the page (it makes slides off the window's thread)
  if (scene) {
    const deckText = 'A slide of a deck, shown in the page.';
    const slideScene = JSON.parse(JSON.stringify(scene));
    slideScene.session.text = deckText;
    const deck = { format: 'albert-lens deck', version: 1, title: 'A deck in the page',
      slides: [{ title: 'The only slide', caption: '', notes: '', scene: slideScene }] };
    const deckFile = path.join(dir, 'talk.json');
    fs.writeFileSync(deckFile, JSON.stringify(deck));
    const view = await widget(page, (w) => w.label === 'View' && w.role !== 'Label');
    if (view) await click(page, view);
    const panel = view && (await menuItem(page, (w) => /^Deck panel/.test(w.label || '')));
    check(panel !== null, 'the View menu has the Deck panel');
    if (panel) {
      await click(page, panel);
      await page.keyboard.press('Escape');
      if (await pickFiles(page, [deckFile], null, 'Open…')) {
        const slide = await widget(page, (w) => w.label === '1. The only slide', 15_000);
        if (slide) await click(page, slide);
        const shown = await waitSummary(page, (s) => s.text === deckText, 30_000);
        check(slide !== null && shown !== null,
          `the picked deck opened and its slide showed in the window: ${shown ? shown.model + ': ' + shown.tokens.join(' ') : slide ? 'no forward pass' : 'no slide in the list'}`);
        const present = await widget(page, (w) => w.label === '▶ Present');
        check(present !== null && present.disabled === true,
          `Present is off in the page${present ? ` (disabled: ${present.disabled})` : ': no Present button'}`);
      }
    }
  }

  check(errors.length === 0, `no page errors${errors.length ? ': ' + errors.join(' | ') : ''}`);
} catch (e) {
  check(false, `the test stopped: ${e.message}`);
} finally {
  await close();
}

// 11. WebGPU (Chromium's, on SwiftShader here): with ?backend=gpu the page computes the main run
// with the wgpu compute shaders, its results read back between frames; the attention equals the
// desktop CPU backend's, typing re-runs it on the GPU, and the page stays interactive
// (Dawn on SwiftShader's Vulkan: without these flags headless Chromium's WebGPU canvas stays blank)
const gpu = await launch(['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader']);
try {
  const page = gpu.context.pages()[0] || (await gpu.context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const t0 = Date.now();
  await page.goto(`${url}?backend=gpu&tab=attention&view=heatmap&text=${encodeURIComponent(TEXT)}`);
  const first = await waitSummary(page, (s) => s.text === TEXT, 60_000);
  const firstMs = Date.now() - t0;
  const onGpu = (s) => s && /^gpu: .*BrowserWebGpu/.test(s.backend);
  check(onGpu(first), `with WebGPU the main run is computed on the GPU, ${firstMs} ms after navigation: ${first ? `${first.backend} (the status bar: ${first.engine})` : 'no forward pass'}`);
  if (first) {
    check(first.warnings.length === 0, `and the GPU gave no warnings${first.warnings.length ? ': ' + first.warnings.join(' | ') : ''}`);
    sameAttention(first, tracePath, 'the WebGPU attention');
    let coloured = 0;
    await waitFor(async () => {
      coloured = colouredPixels(await page.screenshot());
      return coloured > 5000;
    }, 10_000);
    check(coloured > 5000, `the WebGPU-drawn page shows the heatmap: ${coloured} coloured pixels`);
    if (screenshotPath) await page.screenshot({ path: screenshotPath.replace(/(\.png)?$/, '-webgpu.png') });
    const box = await widget(page, (w) => w.role.includes('TextInput') && w.value === TEXT);
    await startGapMeter(page);
    if (box) {
      await click(page, box);
      await page.keyboard.press('Control+A');
      await page.keyboard.type(NEW_TEXT, { delay: 10 });
    }
    const retyped = await waitSummary(page, (s) => s.text === NEW_TEXT && s.tokens.includes('france'), 10_000);
    const typing = await stopGapMeter(page);
    check(onGpu(retyped) && retyped.tokens.includes('paris'),
      `typing re-ran the model on the GPU: ${retyped ? retyped.backend + ': ' + retyped.tokens.join(' ') : 'no new forward pass'}`);
    check(typing.app <= INTERACTIVE_MS,
      `typing stays interactive on the GPU path: the app's longest frame ${typing.app} ms (at most ${INTERACTIVE_MS}); the longest wait between the browser's frames ${typing.gap} ms`);
  }
  check(errors.length === 0, `no page errors with WebGPU${errors.length ? ': ' + errors.join(' | ') : ''}`);
} catch (e) {
  check(false, `the WebGPU test stopped: ${e.message}`);
} finally {
  await gpu.close();
  server.close();
  hub.server.close();
}
console.log(failed === 0 ? 'web tests: all passed' : `web tests: ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
