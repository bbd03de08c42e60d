import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import type { FramerOutput } from '../../src/codecs/framing.js';
import { BatchBuilder, forEachEntry, type Discard, type FromTcpWorker, type TcpWorkerSettings, type ToTcpWorker } from './dc09-tcp-protocol.js';

/**
 * The DC-09 listener's TCP side, on a thread of its own: accepts connections, frames their bytes and sends the
 * frames to the main thread, which decodes, stores and answers them; writes the answers back. Reading and
 * writing thousands of sockets is then off the thread that stores events. A connection has at most one frame
 * with the main thread at a time, so its answers go back in order; later frames wait here.
 */

interface Connection {
  socket: net.Socket;
  framer: Dc09Framer;
  waiting: Uint8Array[];
  /** A frame of this connection is with the main thread, or in (or waiting for room in) the next batch. */
  busy: boolean;
}

const port = parentPort;
if (port === null) throw new Error('dc09-tcp-worker runs as a worker thread');
const settings = workerData as TcpWorkerSettings;

/**
 * Frames per batch at most. A burst from thousands of connections at once (all of them reconnecting, say) would
 * otherwise reach the main thread as one batch, held in memory all at once while it is decoded and stored.
 */
const MAX_BATCH_FRAMES = 1024;

const connections = new Map<number, Connection>();
/** Connections whose next frame waits for room in a batch, in arrival order. */
let deferred: number[] = [];
let nextId = 1;
let opened: Array<[number, string]> = [];
let discarded: Discard[] = [];
let closed: number[] = [];
const frames = new BatchBuilder();
let flushScheduled = false;
/** A batch was sent and the main thread has not taken it yet. */
let batchOutstanding = false;

function post(message: FromTcpWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

/** At most one batch per turn of this loop, and none while the main thread has not taken the last one. */
function scheduleFlush(): void {
  if (flushScheduled || batchOutstanding) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    flush();
  });
}

function flush(): void {
  if (batchOutstanding || (frames.size === 0 && opened.length === 0 && discarded.length === 0 && closed.length === 0)) return;
  const { batch, transfer } = frames.take();
  post({ kind: 'batch', opened, frames: batch, discarded, closed }, transfer);
  batchOutstanding = true;
  opened = [];
  discarded = [];
  closed = [];
  // Start the next batch with the frames that found no room in this one.
  const waitingForRoom = deferred;
  deferred = [];
  for (const id of waitingForRoom) {
    const connection = connections.get(id);
    if (connection !== undefined) addFrame(id, connection);
  }
}

/** Puts the connection's next frame in the batch being gathered, or defers it when the batch is full. */
function addFrame(id: number, connection: Connection): void {
  if (frames.size >= MAX_BATCH_FRAMES) {
    deferred.push(id);
    return;
  }
  frames.add(id, connection.waiting.shift()!);
  scheduleFlush();
}

/** The connection's previous frame is answered (or there was none): its next one, if any, goes on. */
function sendNext(id: number, connection: Connection): void {
  connection.busy = connection.waiting.length > 0;
  if (connection.busy) addFrame(id, connection);
}

function noteDiscards(id: number, outputs: FramerOutput[]): void {
  for (const out of outputs) {
    if (out.kind === 'discarded') discarded.push({ connection: id, reason: out.reason, bytes: out.bytes.length });
  }
  if (discarded.length > 0) scheduleFlush();
}

function accept(socket: net.Socket): void {
  const id = nextId++;
  const connection: Connection = { socket, framer: new Dc09Framer({ maxFrameBytes: settings.maxFrameBytes }), waiting: [], busy: false };
  connections.set(id, connection);
  opened.push([id, `${socket.remoteAddress}:${socket.remotePort}`]);
  scheduleFlush();
  socket.setNoDelay(true);
  socket.setTimeout(settings.idleTimeoutMs);
  socket.on('timeout', () => {
    noteDiscards(id, connection.framer.flush());
    socket.end();
  });
  socket.on('data', (chunk) => {
    const outputs = connection.framer.push(chunk);
    for (const out of outputs) if (out.kind === 'frame') connection.waiting.push(out.bytes);
    noteDiscards(id, outputs);
    if (!connection.busy) sendNext(id, connection);
  });
  // Resets and the like: the close that follows is what counts.
  socket.on('error', () => undefined);
  socket.on('close', () => {
    connections.delete(id);
    closed.push(id);
    scheduleFlush();
  });
}

let accepting = true;

function stopAccepting(): void {
  if (accepting) server.close();
  accepting = false;
}

const server = net.createServer(accept);
server.maxConnections = settings.maxConnections;
server.on('error', (error: NodeJS.ErrnoException) => post({ kind: 'listen-failed', message: error.message, code: error.code }));
server.listen({ host: settings.host, port: settings.port, backlog: 4096 }, () => {
  const address = server.address() as net.AddressInfo;
  post({ kind: 'listening', port: address.port, address: address.address, family: address.family });
});

port.on('message', (message: ToTcpWorker) => {
  switch (message.kind) {
    case 'ready':
      batchOutstanding = false;
      flush();
      break;
    case 'answers':
      forEachEntry(message.answers, (id, answer) => {
        const connection = connections.get(id);
        if (connection === undefined) return;
        if (answer.length > 0 && connection.socket.writable) connection.socket.write(answer);
        sendNext(id, connection);
      });
      break;
    case 'stop-accepting':
      stopAccepting();
      break;
    case 'close-connections':
      stopAccepting();
      for (const { socket } of connections.values()) socket.end();
      for (const { socket } of connections.values()) socket.destroy();
      post({ kind: 'connections-closed' });
      port.close();
      break;
  }
});
