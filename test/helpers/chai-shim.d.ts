// chai 6 ships no type declarations and @types/chai is not a dependency; this keeps `tsc` building
// the tests (assertions are untyped). Remove it if @types/chai is added.
declare module 'chai';
