/**
 * Reading raw JSON configs with errors that name the place, the field and what
 * was expected.
 *
 * @module
 */
import { type ConfigWhere, GraphError, type RawConfig, type Rule } from "./types.ts";

/** Formats a value for an error message, shortened. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Throws a GraphError: `Cannot build <where>: field "<field>" <problem>`. */
export function fieldError(where: ConfigWhere, field: string, problem: string): never {
  throw new GraphError(`Cannot build ${where.label}: field "${field}" ${problem}`);
}

/** Throws a GraphError: `Cannot build <where>: <problem>`. */
export function buildError(where: ConfigWhere, problem: string): never {
  throw new GraphError(`Cannot build ${where.label}: ${problem}`);
}

/** Reads the fields of one raw config; `done()` rejects fields nobody read. */
export class ConfigReader {
  readonly #raw: RawConfig;
  readonly #where: ConfigWhere;
  readonly #known = new Set<string>();
  readonly #ignored: readonly string[];

  /** `ignore` lists fields that belong to the graph, not the plugin (e.g. type, name). */
  constructor(raw: RawConfig, where: ConfigWhere, ignore: readonly string[] = ["type", "name"]) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new GraphError(`Cannot build ${where.label}: config must be an object, got ${show(raw)}`);
    }
    this.#raw = raw;
    this.#where = where;
    this.#ignored = ignore;
    for (const f of ignore) this.#known.add(f);
  }

  /** Where the config sits, as error messages name it. */
  get where(): ConfigWhere {
    return this.#where;
  }

  /** Whether the config gives `field` (not undefined); does not mark it as read. */
  has(field: string): boolean {
    return this.#raw[field] !== undefined;
  }

  /** The raw value of a field (marked as read). */
  raw(field: string): unknown {
    this.#known.add(field);
    return this.#raw[field];
  }

  /**
   * An integer within [min, max]; `fallback` when absent (required when no
   * fallback). `limit` names the constant `max` comes from, for the message
   * (e.g. "MAX_MAPS").
   */
  int(field: string, opts: { min?: number; max?: number; fallback?: number; limit?: string } = {}): number {
    const v = this.raw(field);
    const { min = -Infinity, max = Infinity } = opts;
    const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}${opts.limit ? ` (${opts.limit})` : ""}`;
    if (v === undefined) {
      if (opts.fallback !== undefined) return opts.fallback;
      fieldError(this.#where, field, `is required: expected an integer ${range}`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      fieldError(this.#where, field, `must be an integer ${range}, got ${show(v)}`);
    }
    return v;
  }

  /** A finite number within [min, max] (or > min when `exclusiveMin`). */
  number(field: string, opts: { min?: number; max?: number; exclusiveMin?: boolean; fallback?: number } = {}): number {
    const v = this.raw(field);
    const { min = -Infinity, max = Infinity, exclusiveMin = false } = opts;
    const lo = exclusiveMin ? `> ${min}` : `>= ${min}`;
    const range = max === Infinity ? (min === -Infinity ? "" : ` ${lo}`) : ` ${lo} and <= ${max}`;
    if (v === undefined) {
      if (opts.fallback !== undefined) return opts.fallback;
      fieldError(this.#where, field, `is required: expected a number${range}`);
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v > max || (exclusiveMin ? v <= min : v < min)) {
      fieldError(this.#where, field, `must be a finite number${range}, got ${show(v)}`);
    }
    return v;
  }

  /** A boolean; `fallback` when absent. */
  bool(field: string, fallback: boolean): boolean {
    const v = this.raw(field);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") fieldError(this.#where, field, `must be true or false, got ${show(v)}`);
    return v;
  }

  /** One of `choices`. */
  choice<T extends string>(field: string, choices: readonly T[], fallback?: T): T {
    const v = this.raw(field);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
      fieldError(this.#where, field, `must be one of ${choices.map((c) => `"${c}"`).join(", ")}, got ${show(v)}`);
    }
    return v as T;
  }

  /** A value `rule` accepts; `fallback` when absent (required when no fallback). */
  rule<T>(field: string, rule: Rule, fallback?: T): T {
    const v = this.raw(field);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      fieldError(this.#where, field, `is required: expected ${rule.expected}`);
    }
    if (!rule.ok(v)) fieldError(this.#where, field, `must be ${rule.expected}, got ${show(v)}`);
    return v as T;
  }

  /** Rejects any field that was not read: it is most likely a typo. */
  done(): void {
    const unknown = Object.keys(this.#raw).filter((k) => !this.#known.has(k));
    if (unknown.length > 0) {
      const expected = [...this.#known].filter((k) => !this.#ignored.includes(k)).sort().map((k) => `"${k}"`);
      fieldError(this.#where, unknown[0], `is not a known field; expected ${expected.join(", ") || "no fields"}`);
    }
  }
}

/** An integer in min..max (or >= min), as a {@linkcode Rule}. */
export function integerRule(min: number, max?: number): Rule {
  return {
    expected: max === undefined ? `an integer >= ${min}` : `an integer in ${min}..${max}`,
    ok: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= (max ?? Infinity),
  };
}

/** A finite number passing `test`, as a {@linkcode Rule} whose values `expected` describes. */
export function numberRule(expected: string, test: (v: number) => boolean): Rule {
  return { expected, ok: (v) => typeof v === "number" && Number.isFinite(v) && test(v) };
}

/** A number in 0..1. */
export const FRACTION: Rule = numberRule("a number in 0..1", (v) => v >= 0 && v <= 1);

/** The input as [maps, height, width], or an error naming the layer and the shape it got. */
export function requireMaps(input: readonly number[], where: ConfigWhere): [number, number, number] {
  if (input.length !== 3) buildError(where, `input shape ${showShape(input)} must be 3-D [maps, height, width]`);
  return [input[0], input[1], input[2]];
}

/** The input as a flat vector [size], or an error suggesting a flatten layer. */
export function requireVector(input: readonly number[], where: ConfigWhere): number {
  if (input.length !== 1) {
    buildError(where, `input shape ${showShape(input)} must be 1-D [features]; add a "flatten" layer before it`);
  }
  return input[0];
}

/** Product of the entries of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) s *= d;
  return s;
}

/** `[6, 28, 28]` as text. */
export function showShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
