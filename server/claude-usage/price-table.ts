// The dated price table costs are computed from. The manager is often offline and prices change rarely, so a
// table ships in the repo (claude-prices.json) and MANAGER_CLAUDE_PRICES may name another file of that shape.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DomainError } from "../errors.js";
import { PACKAGE_ROOT } from "../tools/package-root.js";

/** USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  cache_write_5m: number;
  cache_write_1h: number;
  cache_read: number;
}

export interface PriceTable {
  /** The day the prices were taken (YYYY-MM-DD), shown with every cost. */
  date: string;
  /** Model name prefix → price. */
  models: ReadonlyMap<string, ModelPrice>;
}

export const DEFAULT_PRICE_TABLE_PATH = join(PACKAGE_ROOT, "server/claude-usage/claude-prices.json");
const PRICE_FIELDS = ["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"] as const;

/** Checks a table's JSON; the error names the entry that is wrong. */
export function parsePriceTable(text: string, where: string): PriceTable {
  const bad = (what: string): never => {
    throw new DomainError("invalid_argument", `price table ${where}: ${what}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null) return bad("expected an object with date and models");
  const { date, models } = raw as { date?: unknown; models?: unknown };
  if (typeof date !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(date)) bad("date: expected YYYY-MM-DD");
  if (typeof models !== "object" || models === null || Array.isArray(models)) {
    return bad("models: expected an object of model name prefix → prices");
  }
  const table = new Map<string, ModelPrice>();
  for (const [name, entry] of Object.entries(models)) {
    const price = {} as Record<(typeof PRICE_FIELDS)[number], number>;
    for (const field of PRICE_FIELDS) {
      const value = (entry as Record<string, unknown> | null)?.[field];
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        bad(`models.${name}.${field}: expected a price in USD per million tokens (a number ≥ 0)`);
      }
      price[field] = value as number;
    }
    table.set(name, price);
  }
  return { date: date as string, models: table };
}

export async function loadPriceTable(path: string = DEFAULT_PRICE_TABLE_PATH): Promise<PriceTable> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new DomainError("invalid_argument", `price table ${path}: ${(err as Error).message}`);
  }
  return parsePriceTable(text, path);
}

/** The price of a transcript's model name: an exact entry, else the longest entry that is a prefix of it. */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  const exact = table.models.get(model);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  for (const name of table.models.keys()) {
    if (model.startsWith(name) && (best === undefined || name.length > best.length)) best = name;
  }
  return best === undefined ? undefined : table.models.get(best);
}
