// jobs_page_browser.js - drives the Jobs page in headless Chromium (Debian's
// package) with playwright-core, for browser_jobs_page.py: open the page
// during a running migration, see the job's row advance, open the job,
// click Cancel (accepting the confirm), see the job cancelled with its
// report, save a screenshot. Prints one JSON line of what it saw.
//   node jobs_page_browser.js BASE_URL TOKEN JOB_ID SCREENSHOT_DIR
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [base, token, job, outDir] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.VECMIG_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const seen = { prompts: 0, confirms: 0, external: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', async (d) => {
      if (d.type() === 'prompt') { seen.prompts++; await d.accept(token); }
      else { seen.confirms++; await d.accept(); }
    });
    page.on('request', (r) => { if (!r.url().startsWith(base)) seen.external.push(r.url()); });
    await page.goto(base + '/');
    const row = page.locator(`#jobs tbody tr[data-job="${job}"]`);
    await row.waitFor({ timeout: 20000 });
    const rows = async () => (await row.locator('td.rows').textContent()).trim();
    const written = async () => parseInt((await rows()).split('/')[0].replace(/[^0-9]/g, ''), 10) || 0;
    await page.waitForFunction((j) => {
      const r = document.querySelector(`#jobs tbody tr[data-job="${j}"] td.rows`);
      return r && parseInt(r.textContent.split('/')[0].replace(/[^0-9]/g, ''), 10) > 0;
    }, job, { timeout: 30000, polling: 200 });
    seen.first = await written();
    await page.waitForFunction(([j, n]) => {
      const r = document.querySelector(`#jobs tbody tr[data-job="${j}"] td.rows`);
      return r && parseInt(r.textContent.split('/')[0].replace(/[^0-9]/g, ''), 10) > n;
    }, [job, seen.first], { timeout: 20000, polling: 200 });
    seen.second = await written();
    seen.listState = (await row.locator('.state').textContent()).trim();

    await row.locator('a').click();
    await page.waitForFunction((j) => document.getElementById('job-id').textContent === j, job);
    await page.waitForFunction(() => !document.getElementById('cancel-btn').disabled, null,
      { timeout: 10000 });
    seen.tasksRows = await page.locator('#tasks tbody tr').count();
    await page.click('#cancel-btn');
    await page.waitForFunction(() => document.getElementById('job-state').textContent === 'cancelled',
      null, { timeout: 60000, polling: 250 });
    await page.locator('#report-view').waitFor({ state: 'visible', timeout: 15000 });
    seen.finalState = await page.locator('#job-state').textContent();
    seen.verdict = await page.locator('#report-verdict').textContent();
    seen.actionMsg = await page.locator('#action-msg').textContent();
    seen.resumeEnabled = !(await page.locator('#resume-btn').isDisabled());
    seen.screenshot = outDir + '/jobs-page-cancelled.png';
    await page.screenshot({ path: seen.screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
