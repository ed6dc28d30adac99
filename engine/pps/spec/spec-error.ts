/** A spec that cannot be run: the message names the file, the field and what is allowed there. */
export class SpecError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}
