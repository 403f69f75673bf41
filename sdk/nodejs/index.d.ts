// Types of @wispfaas/wisp, Wisp's SDK for nodejs:20 actions.

/** A schema type; Infer<T> is the type of the values it decodes. */
export declare class Type<T> {
  readonly name: string;
  readonly isOptional: boolean;
  readonly hasDefault: boolean;
  /** Decodes a JSON value or throws a ParamsError naming where it does not fit. */
  decode(value: unknown, path?: string): T;
  /** The field may be missing or null. */
  optional(): Type<T | undefined>;
  /** The field is v when missing or null. */
  default(v: T): Type<T>;
}

export type Schema = Type<any> | { [field: string]: Schema };
export type Infer<S> = S extends Type<infer T>
  ? T
  : S extends { [field: string]: Schema }
    ? { [K in keyof S]: Infer<S[K]> }
    : never;

export declare const t: {
  string(): Type<string>;
  number(): Type<number>;
  integer(): Type<number>;
  boolean(): Type<boolean>;
  any(): Type<unknown>;
  oneOf<V extends string | number | boolean>(...values: V[]): Type<V>;
  array<S extends Schema>(item: S): Type<Infer<S>[]>;
  record<S extends Schema>(value: S): Type<{ [key: string]: Infer<S> }>;
  object<F extends { [field: string]: Schema }>(fields: F): Type<{ [K in keyof F]: Infer<F[K]> }>;
};

/** The activation an action serves. */
export interface Activation {
  id: string;
  namespace: string;
  actionName: string;
  actionVersion: string;
  apiHost: string;
  apiKey: string;
  deadline: Date | null;
  /** Milliseconds left before the time limit, or null if unknown. */
  remaining(): number | null;
}

export declare function activation(): Activation;

/** An error that is the action's answer: the result {error: message, ...fields}. */
export declare class ActionError extends Error {
  constructor(message: string, fields?: Record<string, unknown>);
  fields: Record<string, unknown>;
  wispResult(): { error: string; [key: string]: unknown };
}

/** Parameters that do not fit the schema. */
export declare class ParamsError extends ActionError {
  constructor(path: string, problem: string);
  path: string;
  problem: string;
}

export type Result = { [key: string]: unknown };

export declare function action<S extends Schema>(
  schema: S,
  fn: (params: Infer<S>, activation: Activation) => Result | void | Promise<Result | void>,
): (params: unknown) => Promise<Result>;
export declare function action(
  fn: (params: any, activation: Activation) => Result | void | Promise<Result | void>,
): (params: unknown) => Promise<Result>;

export declare const log: {
  level: number;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
