// Real Chromium (Debian's) through playwright-core, as a person's browser.
// Never `playwright install`: it downloads a browser, which this machine cannot.
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Returns the skip reason, or throws under CI (where .ci/run installs chromium). */
export function requireChromium(): string | false {
  if (CHROMIUM) return false;
  const reason = 'Chromium not found at /usr/bin/chromium (apt-get install chromium)';
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPING BROWSER SUITE: ${reason}\n${'!'.repeat(78)}\n`);
  if (process.env.CI) throw new Error(reason);
  return reason;
}

export async function launchBrowser(options: { locale?: string } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(path.join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM!,
    headless: true,
    locale: options.locale ?? 'en-US',
    viewport: { width: 480, height: 720 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Fills the hosted login form on `page` and submits it, waiting for where it leads (`until`, or the next load). */
export async function signInOnPage(page: import('playwright-core').Page, email: string, password: string, until?: string): Promise<void> {
  await page.waitForSelector('input[name="password"]');
  await page.fill('input[name="login"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([until ? page.waitForURL(until) : page.waitForLoadState('load'), page.click('button[type="submit"]')]);
}
