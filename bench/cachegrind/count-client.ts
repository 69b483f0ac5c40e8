/** Sends argv[2] GET / to 127.0.0.1:argv[3] over 10 keep-alive connections, one request at a time on each (for `count.sh`). */
import * as http from 'node:http';

const total = Number(process.argv[2]);
const port = Number(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
let sent = 0;

function next(): void {
  if (sent >= total) {
    agent.destroy();
    return;
  }
  sent++;
  http
    .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', next);
    })
    .on('error', next);
}

for (let i = 0; i < 10; i++) next();
