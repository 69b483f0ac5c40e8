import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

/** A sample file as the README prints it: imported from the package, not from the source tree. */
function asPublished(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8').replaceAll("'../../src'", "'unipool'");
}

/** The ```ts blocks of the README section under `heading`. */
function codeBlocks(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, `README has a section ${heading}`).to.be.greaterThan(-1);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('README framework sections: code that compiles', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const cases: Array<[string, string[]]> = [
    ['### Express 5', ['samples/frameworks/express-server.ts']],
    ['### Koa 3', ['samples/frameworks/koa-server.ts']],
    ['### Fastify 5', ['samples/frameworks/fastify-server.ts']],
  ];
  for (const [heading, files] of cases) {
    it(`issue 12 README: the ${heading.slice(4)} section shows the sample's server file verbatim (so the build compiles it and the tests run it)`, () => {
      const blocks = codeBlocks(readme, heading);
      for (const file of files) expect(blocks, `${file} in the README's ${heading}`).to.include(asPublished(file));
    });
  }
});
