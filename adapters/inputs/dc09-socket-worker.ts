import dgram from 'node:dgram';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { reduceMemoryAfterStartup } from '../system/memory.js';
import { onAcceptFailed } from '../system/listener.js';
import { ConnectionSlots } from '../system/connection-slots.js';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import type { FramerOutput } from '../../src/codecs/framing.js';
import {
  BatchBuilder,
  forEachEntry,
  type Discard,
  type Drop,
  type DropReason,
  type FromSocketWorker,
  type SocketWorkerSettings,
  type ToSocketWorker,
  UDP_RECEIVE_BUFFER_BYTES,
} from './dc09-socket-protocol.js';

/**
 * The DC-09 listener's sockets, on a thread of their own: accepts TCP connections, frames their bytes, receives
 * datagrams, and sends the frames to the main thread in batches; the main thread decodes, stores and answers
 * them, and the answers are written back from here. Reading and writing thousands of sockets, and a datagram
 * flood, are then off the thread that stores events, and frames from both transports share its group commits.
 * A connection has at most one frame with the main thread at a time, so its answers go back in order; later
 * frames wait here, up to a bound: past it the socket is paused, and the TCP window pushes back on the sender
 * until the queue has drained. Datagrams have no such back-pressure: past `maxDatagramsInFlight` (or a quarter
 * of it from one address), or larger than `maxFrameBytes`, they are discarded unread and counted, and the panel
 * sends again when no answer comes.
 */

interface Connection {
  id: number;
  socket: net.Socket;
  /** The remote address: what maxConnectionsPerPeer counts, whatever the source port. */
  host: string;
  peer: string;
  framer: Dc09Framer;
  waiting: Uint8Array[];
  waitingBytes: number;
  /** A frame of this connection is with the main thread, or in (or waiting for room in) the next batch. */
  busy: boolean;
  paused: boolean;
  /** When the connection is closed unless a valid (ACKed) frame comes first. */
  deadline: number;
  /** It has sent a valid frame: the idle timeout applies from then on, the first-frame timeout before. */
  proven: boolean;
  /** When its frame now with the main thread was sent there; undefined when none is. */
  inFlightSince: number | undefined;
  /** The sender has half-closed (sent its FIN): our side ends once its frames are answered. */
  ended: boolean;
}

const port = parentPort;
if (port === null) throw new Error('dc09-socket-worker runs as a worker thread');
const settings = workerData as SocketWorkerSettings;

/**
 * Frames per batch at most. A burst from thousands of connections at once (all of them reconnecting, say) would
 * otherwise reach the main thread as one batch, held in memory all at once while it is decoded and stored.
 */
const MAX_BATCH_FRAMES = 1024;

/**
 * Frames and bytes one connection may have waiting here. One connection streaming junk frames once grew this
 * queue by gigabytes; a panel waits for each answer, and even a pipelining one stays far below these.
 */
const MAX_WAITING_FRAMES = 256;
const MAX_WAITING_BYTES = Math.max(64 * 1024, 4 * settings.maxFrameBytes);

/** How often deadlines are checked: a quarter of the shorter timeout, between 50 ms and 1 s. */
const DEADLINE_CHECK_MS = Math.max(50, Math.min(1_000, settings.firstFrameTimeoutMs / 4, settings.idleTimeoutMs / 4));

/**
 * A frame sent to the main thread before the deadline keeps its connection open this much longer for its answer
 * (a store slowed by load), so a panel that reports just in time is not cut off before it is answered.
 */
const ANSWER_GRACE_MS = 30_000;

const connections = new Map<number, Connection>();
/** Connections whose next frame waits for room in a batch, in arrival order. */
let deferred: number[] = [];
let nextId = 1;
let opened: Array<[number, string]> = [];
let discarded = new Map<string, Discard>();
/** Entries of `discarded` that carry a sample: the capture writes a few a minute, so a batch needs no more. */
let samples = 0;
const MAX_SAMPLES_PER_BATCH = 32;
let dropped = new Map<string, Drop>();
let closed: number[] = [];
/** maxConnections and maxConnectionsPerPeer: a connection is proven by its first ACKed frame. */
const slots = new ConnectionSlots<Connection>(settings, (connection) => connection.inFlightSince !== undefined);
const frames = new BatchBuilder();
/** Where each datagram with the main thread, or waiting for room in a batch, is answered: by its (negative) id. */
const datagramSenders = new Map<number, { address: string; port: number }>();
/** Those datagrams per sending address (whatever the port). */
const datagramsByAddress = new Map<string, number>();
/** Datagrams one address may have waiting: a quarter of the room, so one flooding address cannot take it all. */
const MAX_DATAGRAMS_PER_ADDRESS = Math.max(1, Math.floor(settings.maxDatagramsInFlight / 4));
/** The id, sender (address and port) and bytes of each datagram waiting for room in a batch, in arrival order. */
let deferredDatagrams: Array<[number, string, Uint8Array]> = [];
/** The sender of each datagram in the batch being gathered. */
let datagramPeers: Array<[number, string]> = [];
let lastDatagramId = 0;
let udp: dgram.Socket | undefined;
let flushScheduled = false;
/** A batch was sent and the main thread has not taken it yet. */
let batchOutstanding = false;

function post(message: FromSocketWorker, transfer: ArrayBuffer[] = []): void {
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
  const empty = frames.size === 0 && opened.length === 0 && discarded.size === 0 && dropped.size === 0 && closed.length === 0;
  if (batchOutstanding || empty) return;
  const { batch, transfer } = frames.take();
  post({ kind: 'batch', opened, datagrams: datagramPeers, frames: batch, discarded: [...discarded.values()], dropped: [...dropped.values()], closed }, transfer);
  batchOutstanding = true;
  opened = [];
  datagramPeers = [];
  discarded = new Map();
  samples = 0;
  dropped = new Map();
  closed = [];
  // Start the next batch with the frames that found no room in this one.
  const waitingForRoom = deferred;
  deferred = [];
  for (const id of waitingForRoom) {
    const connection = connections.get(id);
    if (connection !== undefined) addFrame(id, connection);
  }
  const datagramsWaiting = deferredDatagrams;
  deferredDatagrams = [];
  for (const [id, peer, bytes] of datagramsWaiting) addDatagram(id, peer, bytes);
}

/** Puts the connection's next frame in the batch being gathered, or defers it when the batch is full. */
function addFrame(id: number, connection: Connection): void {
  if (frames.size >= MAX_BATCH_FRAMES) {
    deferred.push(id);
    return;
  }
  const frame = connection.waiting.shift()!;
  connection.waitingBytes -= frame.length;
  frames.add(id, frame);
  connection.inFlightSince = Date.now();
  scheduleFlush();
  // Read again once half the queue has drained, so a pipelining sender is not stopped at every frame.
  if (connection.paused && connection.waiting.length <= MAX_WAITING_FRAMES / 2 && connection.waitingBytes <= MAX_WAITING_BYTES / 2) {
    connection.paused = false;
    connection.socket.resume();
  }
}

/** Puts a datagram in the batch being gathered, or defers it when the batch is full. */
function addDatagram(id: number, peer: string, bytes: Uint8Array): void {
  if (frames.size >= MAX_BATCH_FRAMES) {
    deferredDatagrams.push([id, peer, bytes]);
    return;
  }
  datagramPeers.push([id, peer]);
  frames.add(id, bytes);
  scheduleFlush();
}

/**
 * Ids count down from -1, apart from connection ids; they wrap long before an Int32Array entry would overflow,
 * and no id can still be in use by then (at most maxDatagramsInFlight are).
 */
function nextDatagramId(): number {
  lastDatagramId = lastDatagramId <= -0x3fff_ffff ? -1 : lastDatagramId - 1;
  return lastDatagramId;
}

function received(bytes: Buffer, sender: dgram.RemoteInfo): void {
  if (!accepting) return;
  const peer = `${sender.address}:${sender.port}`;
  const ofAddress = datagramsByAddress.get(sender.address) ?? 0;
  // Larger than any frame the input takes (as on TCP): what the waiting datagrams hold stays maxFrameBytes each.
  const refused =
    bytes.length > settings.maxFrameBytes
      ? 'FRAME_OVERSIZE'
      : ofAddress >= MAX_DATAGRAMS_PER_ADDRESS
        ? 'FRAME_DATAGRAM_PEER_LIMIT'
        : datagramSenders.size >= settings.maxDatagramsInFlight
          ? 'FRAME_DATAGRAM_OVERLOAD'
          : undefined;
  if (refused !== undefined) {
    noteDiscard(`udp|${sender.address}|${refused}`, { connection: 0, peer, reason: refused, count: 0, bytes: 0 }, bytes);
    return;
  }
  const id = nextDatagramId();
  datagramSenders.set(id, { address: sender.address, port: sender.port });
  datagramsByAddress.set(sender.address, ofAddress + 1);
  addDatagram(id, peer, bytes);
}

/** The main thread's answer to a datagram goes back to its sender; no answer (noise, bad CRC) sends nothing. */
function answerDatagram(id: number, answer: Uint8Array): void {
  const sender = datagramSenders.get(id);
  if (sender === undefined) return;
  datagramSenders.delete(id);
  countDown(datagramsByAddress, sender.address);
  if (answer.length > 0) udp?.send(answer, sender.port, sender.address);
}

/**
 * The connection's previous frame is answered (or there was none): its next one, if any, goes on; a sender that
 * has half-closed and has nothing left to answer gets our FIN.
 */
function sendNext(id: number, connection: Connection): void {
  connection.busy = connection.waiting.length > 0;
  if (connection.busy) addFrame(id, connection);
  else if (connection.ended) connection.socket.end();
}

/** `madeRoom`: closed at a connection limit to make room for a new connection, not refused. */
function drop(host: string, peer: string, reason: DropReason, madeRoom = false): void {
  countDrop(`${host}|${reason}|${madeRoom}`, { peer, host, reason, count: 0, ...(madeRoom ? { madeRoom } : {}) });
}

function acceptFailed(error: NodeJS.ErrnoException): void {
  const code = error.code ?? error.message;
  countDrop(`|accept-failed|${code}`, { reason: 'accept-failed', code, count: 0 });
}

/** Adds one to the batch's entry under `key`, `first` (with a count of 0) being the entry when there is none yet. */
function countDrop(key: string, first: Drop): void {
  const entry = dropped.get(key) ?? first;
  entry.count += 1;
  dropped.set(key, entry);
  scheduleFlush();
}

function noteDiscards(id: number, outputs: FramerOutput[]): void {
  for (const out of outputs) {
    if (out.kind === 'discarded') noteDiscard(`${id}|${out.reason}`, { connection: id, reason: out.reason, count: 0, bytes: 0 }, out.bytes);
  }
}

/**
 * Counts one discarded run into the entry kept under `key` (`first` when there is none yet); the entry keeps the
 * first run's bytes, cut short, when the capture wants them: one sample per entry, however long the flood.
 */
function noteDiscard(key: string, first: Discard, run: Uint8Array): void {
  let entry = discarded.get(key);
  if (entry === undefined) {
    discarded.set(key, (entry = first));
    const sampleBytes = settings.discardSampleBytes ?? 0;
    if (sampleBytes > 0 && samples < MAX_SAMPLES_PER_BATCH) {
      samples += 1;
      entry.sample = run.slice(0, sampleBytes);
    }
  }
  entry.count += 1;
  entry.bytes += run.length;
  scheduleFlush();
}

/** Takes a connection out of the books (at its close, or when evicted); false when it already was. */
function forget(connection: Connection): boolean {
  connections.delete(connection.id);
  return slots.forget(connection);
}

/** One fewer under `address`; an address with none left is dropped from the map. */
function countDown(counts: Map<string, number>, address: string): void {
  const left = (counts.get(address) ?? 1) - 1;
  if (left > 0) counts.set(address, left);
  else counts.delete(address);
}

/** A connection the slots closed to make room for a new one (already forgotten there). */
function evicted(connection: Connection, reason: DropReason): void {
  connections.delete(connection.id);
  closed.push(connection.id);
  noteDiscards(connection.id, connection.framer.flush());
  drop(connection.host, connection.peer, reason, true);
  connection.socket.destroy();
}

function accept(socket: net.Socket): void {
  const host = socket.remoteAddress ?? 'unknown';
  const peer = `${host}:${socket.remotePort}`;
  const refuse = (reason: DropReason): void => {
    socket.on('error', () => undefined);
    socket.destroy();
    drop(host, peer, reason);
  };
  const refused = slots.admit(host, evicted);
  if (refused !== undefined) return refuse(refused);
  const id = nextId++;
  const connection: Connection = {
    id,
    socket,
    host,
    peer,
    framer: new Dc09Framer({ maxFrameBytes: settings.maxFrameBytes }),
    waiting: [],
    waitingBytes: 0,
    busy: false,
    paused: false,
    deadline: Date.now() + settings.firstFrameTimeoutMs,
    proven: false,
    inFlightSince: undefined,
    ended: false,
  };
  connections.set(id, connection);
  slots.add(connection);
  opened.push([id, peer]);
  scheduleFlush();
  socket.setNoDelay(true);
  const take = (outputs: FramerOutput[]): void => {
    for (const out of outputs) {
      if (out.kind !== 'frame') continue;
      connection.waiting.push(out.bytes);
      connection.waitingBytes += out.bytes.length;
    }
    noteDiscards(id, outputs);
    if (!connection.busy) sendNext(id, connection);
  };
  socket.on('data', (chunk) => {
    take(connection.framer.push(chunk));
    if (connection.waiting.length >= MAX_WAITING_FRAMES || connection.waitingBytes >= MAX_WAITING_BYTES) {
      connection.paused = true;
      socket.pause();
    }
  });
  // A sender that writes its frame and half-closes ("send and close") still reads the answer: end only once it is written.
  socket.on('end', () => {
    connection.ended = true;
    // Its last frame may lack only its CR; it is read now, and answered before our FIN.
    take(connection.framer.end());
  });
  // Resets and the like: the close that follows is what counts.
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (!forget(connection)) return; // evicted: already reported closed
    closed.push(id);
    scheduleFlush();
  });
}

/**
 * Closes connections past their deadline: no valid frame within firstFrameTimeout of connecting, or within
 * idleTimeout of the last one. Noise and bad-CRC frames do not move the deadline.
 */
function closeOverdue(): void {
  const now = Date.now();
  for (const [id, connection] of connections) {
    const { deadline, inFlightSince } = connection;
    if (now < deadline || connection.socket.destroyed) continue;
    if (inFlightSince !== undefined && inFlightSince < deadline && now < deadline + ANSWER_GRACE_MS) continue;
    noteDiscards(id, connection.framer.flush());
    drop(connection.host, connection.peer, connection.proven ? 'idle-timeout' : 'first-frame-timeout');
    connection.socket.destroy();
  }
}

/** An ACKed frame was a valid one: the connection's deadline moves to idleTimeout from now. */
function proven(connection: Connection): void {
  if (!connection.proven) slots.prove(connection);
  connection.proven = true;
  connection.deadline = Date.now() + settings.idleTimeoutMs;
}

let accepting = true;

/** New connections are refused and new datagrams ignored; frames already here are still answered. */
function stopAccepting(): void {
  if (accepting) server?.close();
  accepting = false;
}

function listenFailed(error: NodeJS.ErrnoException): void {
  post({ kind: 'listen-failed', message: error.message, code: error.code });
}

function listening(): void {
  reduceMemoryAfterStartup();
  const tcp = server?.address() as net.AddressInfo | undefined;
  const bound = udp?.address();
  post({
    kind: 'listening',
    ...(tcp === undefined ? {} : { tcp }),
    ...(bound === undefined ? {} : { udp: bound, udpReceiveBufferBytes: udp!.getRecvBufferSize() }),
  });
}

function bindUdp(udpPort: number): void {
  const socket = dgram.createSocket({ type: net.isIPv6(settings.host) ? 'udp6' : 'udp4', recvBufferSize: UDP_RECEIVE_BUFFER_BYTES });
  socket.on('message', received);
  socket.once('error', listenFailed);
  socket.bind(udpPort, settings.host, () => {
    socket.off('error', listenFailed);
    // Once bound, an error is a failed send: that answer is lost (the panel sends again), the socket stays.
    socket.on('error', (error: NodeJS.ErrnoException) => post({ kind: 'udp-error', message: error.message, code: error.code }));
    udp = socket;
    listening();
  });
}

// maxConnections is enforced in accept(), not by Node: at the limit an idle connection makes room first. Half-open
// allowed: Node would otherwise end a socket at the sender's FIN, before the answers to its frames are written.
const server = settings.tcp ? net.createServer({ allowHalfOpen: true }, accept) : undefined;
setInterval(closeOverdue, DEADLINE_CHECK_MS).unref();
if (server !== undefined) {
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (!server.listening) listenFailed(error);
  });
  // The worker must not be restarted for it: the listener and every open connection stay. libuv itself closes
  // connections past the descriptor limit.
  onAcceptFailed(server, acceptFailed);
  server.listen({ host: settings.host, port: settings.port, backlog: 4096 }, () => {
    // Same port for UDP, so panels need one setting; with port 0 (tests) the port TCP got.
    if (settings.udp) bindUdp((server.address() as net.AddressInfo).port);
    else listening();
  });
} else if (settings.udp) bindUdp(settings.port);

port.on('message', (message: ToSocketWorker) => {
  switch (message.kind) {
    case 'ready':
      batchOutstanding = false;
      flush();
      break;
    case 'answers': {
      const accepted = message.accepted.length === 0 ? undefined : new Set(message.accepted);
      forEachEntry(message.answers, (id, answer) => {
        if (id < 0) return answerDatagram(id, answer);
        const connection = connections.get(id);
        if (connection === undefined) return;
        connection.inFlightSince = undefined;
        if (accepted?.has(id) === true) proven(connection);
        if (answer.length > 0 && connection.socket.writable) connection.socket.write(answer);
        sendNext(id, connection);
      });
      break;
    }
    case 'refuses':
      post({ kind: 'refuses', query: message.query, limit: slots.refuses(message.host) });
      break;
    case 'stop-accepting':
      stopAccepting();
      break;
    case 'close-connections':
      stopAccepting();
      for (const { socket } of connections.values()) socket.end();
      for (const { socket } of connections.values()) socket.destroy();
      udp?.close();
      post({ kind: 'connections-closed' });
      port.close();
      break;
  }
});
