/** `npm run bench [-- scenario ... --pairs N]`: runs the benchmark scenarios side by side. */
import { runCli } from './lib/cli';
import { SCENARIOS } from './scenarios';

void runCli(SCENARIOS);
