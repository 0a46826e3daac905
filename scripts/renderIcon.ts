/**
 * `npm run icon`: renders build/icon.svg into build/icon.png (1024 x 1024, transparent corners) in Debian's
 * Chromium. electron-builder makes the Windows .ico, the macOS .icns and the Linux icon sizes from it.
 */
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1024, height: 1024 } });
  await page.setContent(`<!doctype html><body style="margin:0">${readFileSync('build/icon.svg', 'utf8')}</body>`);
  await page.screenshot({ path: 'build/icon.png', omitBackground: true });
} finally {
  await browser.close();
}
console.log('wrote build/icon.png');
