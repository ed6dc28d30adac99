/** A store fault said to the user: what happened and what to do; the CLI exits with `exitCode`. */
export class StoreError extends Error {
  constructor(
    message: string,
    /** exit status the CLI uses */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
