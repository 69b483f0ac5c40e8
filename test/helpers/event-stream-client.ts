import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

/** One Server-Sent Event as received, with when it arrived (performance.now()). */
export interface ReceivedEvent {
  event: string;
  data: string;
  at: number;
}

/** A plain HTTP client of `/events`: collects every event until the server ends the stream. */
export interface EventStreamClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body of a refused request (not a stream). */
  body: string;
  events: ReceivedEvent[];
  /** The JSON of every unnamed event (the frames). */
  frames<T = Record<string, unknown>>(): T[];
  /** Resolves when the response ended (the server closed the stream) or the socket closed. */
  ended: Promise<'end' | 'close'>;
  /** Goes away without a word (destroys the socket). */
  leave(): void;
}

/** Opens `GET path` on the admin port and parses the response as `text/event-stream`. */
export function openEventStream(port: number, headers: http.OutgoingHttpHeaders = {}, path = '/events'): Promise<EventStreamClient> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      const events: ReceivedEvent[] = [];
      let buffer = '';
      let body = '';
      const ended = new Promise<'end' | 'close'>((done) => {
        res.once('end', () => done('end'));
        res.once('close', () => done('close'));
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) {
          body += chunk;
          return;
        }
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) events.push({ event, data: data.join('\n'), at: performance.now() });
        }
      });
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        get body() {
          return body;
        },
        events,
        frames: <T>() => events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as T),
        ended,
        leave: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}
