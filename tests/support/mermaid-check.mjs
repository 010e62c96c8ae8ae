// Checks the ```mermaid blocks of a Markdown file with Mermaid itself: each must parse, and each
// gantt task must get a start and an end date (computed as when the chart is drawn).
//   node mermaid-check.mjs FILE.md   (run from a folder whose node_modules has mermaid and jsdom)
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'noop.js'));
const { JSDOM } = require('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const mermaid = (await import(require.resolve('mermaid'))).default;
mermaid.initialize({ startOnLoad: false });

const markdown = fs.readFileSync(process.argv[2], 'utf8');
const blocks = [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
let failed = 0;
for (const [i, block] of blocks.entries()) {
  try {
    await mermaid.parse(block);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(block);
    const tasks = diagram.db.getTasks ? diagram.db.getTasks() : [];
    const bad = tasks.filter((t) => !(t.startTime instanceof Date) || isNaN(t.startTime) || isNaN(t.endTime) || t.endTime < t.startTime);
    if (bad.length) {
      failed++;
      console.log(`block ${i + 1}: tasks without valid dates: ${bad.map((t) => t.task).join('; ')}`);
    } else {
      console.log(`ok block ${i + 1}: ${diagram.type}, ${tasks.length} tasks`);
    }
  } catch (e) {
    failed++;
    console.log(`block ${i + 1}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
