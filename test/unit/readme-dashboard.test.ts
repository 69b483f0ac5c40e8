import { expect } from 'chai';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
const RAW = 'https://github.com/unipool/unipool/raw/main/';

describe('README "Dashboard" section (issue 16)', () => {
  it('shows the committed screenshot by an absolute link (it renders on npmjs.com too) to a PNG of the repository', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('\n## Dashboard\n');
    expect(at, 'README has a "## Dashboard" section').to.be.above(-1);
    const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
    const image = /!\[[^\]]+\]\(([^)\s]+)\)/.exec(section)?.[1];
    expect(image).to.be.a('string').and.satisfy((url: string) => url.startsWith(RAW));
    const file = join(ROOT, image!.slice(RAW.length));
    expect(existsSync(file), file).to.equal(true);
    expect(readFileSync(file).subarray(1, 4).toString()).to.equal('PNG');
    expect(statSync(file).size).to.be.below(400_000);
  });
});
