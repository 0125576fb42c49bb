/**
 * The result table: one row per measurement, Pallet and Distribution side by side, and the ratio
 * Pallet/Distribution. Whether a higher ratio is good depends on the unit: `better` says which.
 * Every bench script saves its report with `saveReport`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Writes `text` to bench/results/<prefix><time>.md (gitignored); resolves to the file's path. */
export function saveReport(prefix: string, text: string): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, text);
  return file;
}
export interface Row {
  workload: string;
  unit: string;
  better: 'higher' | 'lower';
  pallet: number | undefined;
  distribution: number | undefined;
  digits: number;
}

function format(value: number | undefined, digits: number): string {
  return value === undefined ? 'n/a' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(row: Row): string {
  if (row.pallet === undefined || row.distribution === undefined || row.distribution === 0) return 'n/a';
  return `${(row.pallet / row.distribution).toFixed(2)}×`;
}

export function renderTable(rows: Row[]): string {
  const lines = [
    '| Workload | Unit | Pallet | Distribution | Pallet/Distribution |',
    '|---|---|--:|--:|--:|',
    ...rows.map(
      (row) =>
        `| ${row.workload} | ${row.unit} (${row.better} is better) | ${format(row.pallet, row.digits)} | ${format(row.distribution, row.digits)} | ${ratio(row)} |`,
    ),
  ];
  return lines.join('\n');
}
