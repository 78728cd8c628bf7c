// Validates an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser):
// the spec's JSON Schema, its semantic rules and every $ref resolved (the committed schemas).
// node validate.mjs <document>: exit 0 valid, 1 invalid (each problem on one line), 2 usage.
import { resolve } from 'node:path';
import parserModule from '@asyncapi/parser';

const { Parser, fromFile, DiagnosticSeverity } = parserModule;
const SEVERITY = ['error', 'warning', 'info', 'hint'];

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}
const path = resolve(file);
let parsed;
try {
  parsed = await fromFile(new Parser(), path).parse();
} catch (error) {
  console.error(`asyncapi-check: cannot read ${path}: ${error.message}`);
  process.exit(1);
}
const { document, diagnostics } = parsed;
// Infos and hints (e.g. "a newer AsyncAPI version exists") are advice, not problems.
const problems = diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
for (const d of problems) {
  const where = d.path.length ? d.path.join('.') : '<document>';
  const line = d.range ? `:${d.range.start.line + 1}` : '';
  console.error(`${path}${line}: ${SEVERITY[d.severity]} ${d.code}: ${d.message} (${where})`);
}
const errors = problems.filter((d) => d.severity === DiagnosticSeverity.Error).length;
const warnings = problems.filter((d) => d.severity === DiagnosticSeverity.Warning).length;
if (!document || errors > 0 || warnings > 0) {
  console.error(`asyncapi-check: ${path} is invalid (${errors} errors, ${warnings} warnings)`);
  process.exit(1);
}
const count = (items) => items.all().length;
console.log(
  `OK: ${path} is valid AsyncAPI ${document.version()}: ${count(document.channels())} channels, ` +
    `${count(document.messages())} messages, ${count(document.operations())} operations`,
);
