/**
 * Opens a dataset's report.html in headless Chromium as a reviewer would (from disk, no server) and reports what a
 * test asserts: console errors, cards, pictures that load, a bad slide's note, the status filter at work; saves a
 * screenshot. `TESSELLA_README_SCREENSHOT=docs/report-html.png` also writes the README's small PNG from it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { Chromium, type PageMessage } from './chromium.js';

export interface QcPageCheck {
  messages: PageMessage[];
  cards: number;
  pictures: number;
  picturesBroken: number;
  badSlideNote?: string;
  /** cards still shown with the status filter set to 'error' */
  filteredByStatus: number;
  /** shard card scripts (qc/<set>-NNNNN.js) that did not load */
  missingScripts: number;
}

export async function checkQcPage(
  binary: string,
  datasetDir: string,
  o: { badSlide?: string; screenshot: string },
): Promise<QcPageCheck> {
  const browser = await Chromium.launch(binary, 1200, 900);
  try {
    await browser.open(pathToFileURL(join(datasetDir, 'report.html')).href);
    const cards = await browser.evaluate<number>(`document.querySelectorAll('article.card').length`);
    const missingScripts = await browser.evaluate<number>(`window.tessellaMissingCount || 0`);
    // Every picture, not only those in view (they load lazily): all must be there beside the page.
    const pics = await browser.evaluate<{ n: number; broken: number }>(`(async () => {
      const imgs = [...document.images];
      imgs.forEach((i) => { i.loading = 'eager'; });
      await Promise.all(imgs.map((i) => i.complete ? 0 : new Promise((r) => { i.onload = i.onerror = r; })));
      return { n: imgs.length, broken: imgs.filter((i) => !i.naturalWidth).length };
    })()`);
    const badSlideNote = o.badSlide
      ? await browser.evaluate<string | undefined>(`(() => {
          const card = [...document.querySelectorAll('article.card')].find((c) => c.querySelector('.id').textContent === ${JSON.stringify(o.badSlide)});
          return card && card.querySelector('.note') ? card.querySelector('.note').textContent : undefined;
        })()`)
      : undefined;
    await browser.evaluate(`window.scrollTo(0, 0)`);
    const png = await browser.screenshot();
    writeFileSync(o.screenshot, png);
    const readme = process.env.TESSELLA_README_SCREENSHOT;
    if (readme) {
      const small = await sharp(png)
        .resize({ width: 800 })
        .png({ palette: true, colours: 64, compressionLevel: 9, effort: 10 })
        .toBuffer();
      writeFileSync(readme, small);
    }
    const filteredByStatus = await browser.evaluate<number>(`(() => {
      const s = document.querySelector('select[data-filter="status"]');
      s.value = 'error';
      s.dispatchEvent(new Event('change'));
      return [...document.querySelectorAll('article.card')].filter((c) => !c.hidden).length;
    })()`);
    const messages = browser.messages.filter(
      (m) => m.kind === 'exception' || m.level === 'error' || m.level === 'warning',
    );
    return {
      messages,
      cards,
      pictures: pics.n,
      picturesBroken: pics.broken,
      badSlideNote,
      filteredByStatus,
      missingScripts,
    };
  } finally {
    await browser.close();
  }
}
