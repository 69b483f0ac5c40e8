// chai 6 ships no type declarations and @types/chai is not a dependency; this keeps tests
// compiling under `strict` until one of them is added.
declare module 'chai' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  export const expect: (value: unknown, message?: string) => any;
}
