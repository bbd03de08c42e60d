/**
 * The one registry of error codes. Codecs return them inside a DecodeError value; runtime code throws
 * GatewayError. The README's error table is kept in step with this list by tests/src/errors.test.ts.
 */
export const ERROR_CODES = {
  // framing
  FRAME_NOISE: 'Bytes before a frame start were discarded.',
  FRAME_OVERSIZE: 'A frame grew past the input\'s maximum frame size and was discarded.',
  FRAME_IDLE_TIMEOUT: 'A partial frame was discarded after the connection stayed idle.',
  FRAME_TRUNCATED: 'A partial frame was discarded: its sender closed the connection before the frame ended.',
  FRAME_SIA_BLOCK: 'Bytes outside any DC-09 frame were whole SIA DC-03 blocks (a communicator set to SIA over IP, such as a Honeywell Galaxy or FX module), which a DC-09 input does not read; they were discarded unanswered.',
  FRAME_SIA_ENCRYPTED: 'A SIA over IP connection opened with the Galaxy Ethernet module\'s own encryption, which the input does not speak; it was closed (set the panel\'s alarm report encryption off).',
  FRAME_SIA_SESSION_LIMIT: 'A SIA over IP connection was closed: it sent more blocks or rejected blocks than its input allows.',
  FRAME_DATAGRAM_OVERLOAD: 'A DC-09 datagram was discarded unread: the input already held its most datagrams waiting for an answer.',
  FRAME_DATAGRAM_PEER_LIMIT: 'A DC-09 datagram was discarded unread: its address already held its share (a quarter) of the datagrams the input holds waiting for an answer.',
  // input text
  INPUT_ESCAPE_INVALID: 'A CLI frame argument has a malformed \\xNN escape or odd hex digit count.',
  INPUT_EMPTY: 'No frame was given.',
  REPLAY_LINE_MALFORMED: 'A replay file line is neither a capture record nor a frame; it is skipped and counted.',
  REPLAY_FILE_TRUNCATED: 'A capture ends inside a record (the gateway stopped while writing it); the whole records before it are replayed and a warning names the line.',
  // packet captures (pcap, pcapng) read by replay and decode
  PCAP_FORMAT_INVALID: 'A packet capture has a file header or block that does not parse (a bad version, length or byte-order magic); reading stops there.',
  PCAP_TRUNCATED: 'A packet capture ends inside a record (the capture was cut short); the packets before it are read.',
  PCAP_PACKET_MALFORMED: 'A captured packet cannot be read as IP over a known link type with TCP or UDP (headers cut by the snap length, lengths that contradict, a link type not read); it is skipped and counted.',
  PCAP_IP_FRAGMENTS_INCOMPLETE: 'IP fragments of a datagram in a packet capture never made the whole datagram within the limits (30 s, 64 datagrams at once, 64 fragments, 65,535 bytes); it is skipped and counted.',
  PCAP_TCP_GAP: 'A panel\'s TCP stream in a capture misses bytes the capture did not hold; the partial frame before them is discarded and counted.',
  PCAP_TCP_CONFLICT: 'Bytes of a panel\'s TCP stream in a capture came twice with different content (a retransmission or overlap that differs: an injected segment?); the copy read first is replayed, the other is reported with its bytes and counted.',
  PCAP_TCP_LATE: 'Bytes of a panel\'s TCP stream in a capture came after the stream had gone past them (before the first segment of a connection captured without its handshake, or in a gap given up); they are not replayed, reported with their bytes and counted.',
  // any input
  FORMAT_UNKNOWN: 'The bytes match no protocol the input reads; the message names every format that was tried.',
  // SIA DC-09
  DC09_FORMAT_INVALID: 'The bytes are not a DC-09 frame (missing LF/CR, header, ID token or brackets).',
  DC09_CRC_MISMATCH: 'The DC-09 CRC-16/ARC does not match the frame body.',
  DC09_LENGTH_MISMATCH: 'The DC-09 length field does not match the body length.',
  DC09_ID_UNSUPPORTED: 'The DC-09 ID token is not SIA-DCS, ADM-CID or NULL (or their encrypted forms).',
  DC09_KEY_MISSING: 'An encrypted DC-09 frame arrived for an account without a configured key.',
  DC09_DECRYPT_FAILED: 'An encrypted DC-09 frame did not decrypt to a valid plaintext with the configured key.',
  DC09_TIMESTAMP_INVALID: 'The DC-09 timestamp is malformed or missing where it is required.',
  DC09_TIMESTAMP_OUT_OF_WINDOW: 'The encrypted frame\'s timestamp is outside the receiver\'s accept window.',
  DC09_ACCOUNT_UNKNOWN: 'The frame\'s account is not in the input\'s allowlist.',
  DC09_PLAINTEXT_FOR_KEYED_ACCOUNT: 'An unencrypted DC-09 frame arrived for an account that has a key (forged, or the panel\'s encryption is off).',
  DC09_OH_NOT_ALLOWED: 'An Osborne-Hoffman line (no CRC, no key) arrived on an input that does not allow it, or from an account not on its allowlist.',
  DC09_DATA_INVALID: 'The DC-09 data block does not parse as SIA-DCS or ADM-CID content.',
  DC09_QUIRK_REJECTED: 'A tolerated field quirk was found while --strict was set.',
  // Contact ID
  CID_FORMAT_INVALID: 'The Contact ID message is not 16 valid digits (account, type, qualifier, code, group, zone/user, check digit).',
  CID_CHECKSUM_INVALID: 'The Contact ID check digit does not make the digit sum a multiple of 15.',
  CID_MESSAGE_TYPE_UNSUPPORTED: 'The message type is not Contact ID (18 or 98).',
  CID_QUALIFIER_INVALID: 'The Contact ID event qualifier is not 1, 3 or 6.',
  // SIA DC-03
  SIA03_FORMAT_INVALID: 'The SIA DC-03 block or data does not parse.',
  SIA03_PARITY: 'The SIA DC-03 block parity byte is wrong.',
  SIA03_FUNCTION_UNSUPPORTED: 'The SIA DC-03 block\'s length and parity are right but its function code is none DC-03 defines; it is rejected, a duress code in its data stored first.',
  // Sur-Gard
  SURGARD_FORMAT_INVALID: 'The Sur-Gard automation packet does not parse.',
  SURGARD_PROTOCOL_UNSUPPORTED: 'The Sur-Gard packet uses a protocol identifier this gateway does not decode.',
  SURGARD_AMBIGUOUS: 'The packet reads both as a Sur-Gard protocol 1 packet and as a Bosch D6500 type 1 message of another meaning; it is stored as unrecognized with its text.',
  // access-control XML
  XML_MALFORMED: 'The XML body is not well-formed.',
  XML_TOO_LARGE: 'The XML body exceeds the input\'s size limit.',
  XML_ENTITY_REJECTED: 'The XML body declares a DTD or entities, which are refused.',
  XML_MAPPING_FAILED: 'The XML document does not match any configured mapping.',
  XML_TOO_MANY_EVENTS: 'The XML document carries more than 256 events; it is refused (413), its duress and hold-up events stored.',
  XML_UNAUTHORIZED: 'The request did not carry the access input\'s shared secret.',
  // configuration
  CONFIG_INVALID: 'The configuration file does not validate.',
  CONFIG_READ_FAILED: 'The configuration file could not be read or parsed as YAML.',
  CONFIG_KEY_INVALID: 'An AES key does not fit its declared encoding and length.',
  // outbox and outputs
  OUTBOX_WRITE_FAILED: 'The durable outbox could not store an event (disk full, I/O error); the frame is NAKed.',
  OUTBOX_OPEN_FAILED: 'The outbox database could not be opened, or its schema is newer than this version knows.',
  OUTBOX_BACKLOG_FULL: 'The outbox backlog limit is reached; frames are NAKed until it drains.',
  OUTPUT_DELIVERY_FAILED: 'An output could not deliver an event (retryable).',
  OUTPUT_DELIVERY_REJECTED: 'An output refused an event permanently; it became a dead letter.',
  OUTPUT_BROKER_START_FAILED: 'The embedded MQTT broker could not listen (port in use or not permitted).',
  // duress assurance
  ASSURANCE_STORE_FAILED: 'The duress assurance store (device ledger, test windows, incidents) could not be opened, is newer than this version, or could not be written.',
  // serial
  SERIAL_PORT_FAILED: 'The serial port could not be opened or was lost.',
  // HTTP API (answered with the status in API_HTTP_STATUS)
  BAD_REQUEST: 'The request body or query does not validate (the message names the field).',
  URL_MALFORMED: 'The request path holds a malformed percent escape.',
  UNAUTHORIZED: 'No API token, or one the gateway does not know (answered with WWW-Authenticate: Bearer).',
  FORBIDDEN: 'The token\'s role may not do this (viewer reads, operator acknowledges and retries dead letters, installer runs test windows, admin all).',
  ORIGIN_NOT_ALLOWED: 'The request carries an Origin that is neither the API\'s own (the console) nor in api.allowedOrigins (a cross-site request).',
  HOST_NOT_ALLOWED: 'The Host header is neither the API host, a loopback name nor in api.allowedOrigins (DNS rebinding).',
  UNSUPPORTED_MEDIA_TYPE: 'A request body that is not application/json.',
  NOT_FOUND: 'No such route.',
  METHOD_NOT_ALLOWED: 'The route does not take this method.',
  BODY_TOO_LARGE: 'The request body exceeds the API\'s size limit.',
  HEADERS_TOO_LARGE: 'The request\'s headers, cookies included, exceed 16 KiB (a cookie bomb); answered and the connection closed.',
  REQUEST_MALFORMED: 'The request is not well-formed HTTP/1.1 (two lengths, a bad chunk, a bad header); answered and the connection closed.',
  REQUEST_TIMEOUT: 'The request\'s headers or the whole request did not arrive within headersTimeout or requestTimeout; answered and the connection closed.',
  SITE_NOT_FOUND: 'No configured site has this id.',
  WINDOW_NOT_FOUND: 'No open test window has this id.',
  INCIDENT_NOT_FOUND: 'No incident has this id.',
  OUTPUT_NOT_FOUND: 'No configured output has this name.',
  DEVICE_NOT_FOUND: 'The site has no duress device with this name.',
  ALREADY_ACKNOWLEDGED: 'The incident was acknowledged before.',
  CONTROL_NOT_STORED: 'A control action was done and chained in the audit log, but the outbox did not take its event for central (disk full, I/O error); the gateway stores it again at each check, so the action must not be repeated.',
  TOO_MANY_REQUESTS: 'Too many failed token checks (bearer tokens and console sign-ins) from this address (one on the network, never loopback) in the last minute, or every console session is taken.',
  INTERNAL: 'The API handler failed unexpectedly (logged with its cause).',
  // audit log
  AUDIT_CHAIN_BROKEN: 'An audit log record does not carry the SHA-256 of the record before it, or its own hash does not match.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status each API error code is answered with. */
export const API_HTTP_STATUS = {
  BAD_REQUEST: 400,
  URL_MALFORMED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ORIGIN_NOT_ALLOWED: 403,
  HOST_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  SITE_NOT_FOUND: 404,
  WINDOW_NOT_FOUND: 404,
  INCIDENT_NOT_FOUND: 404,
  OUTPUT_NOT_FOUND: 404,
  DEVICE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_ACKNOWLEDGED: 409,
  BODY_TOO_LARGE: 413,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  REQUEST_MALFORMED: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  CONTROL_NOT_STORED: 503,
  OUTBOX_WRITE_FAILED: 503,
} as const satisfies Partial<Record<ErrorCode, number>>;

export type ApiErrorCode = keyof typeof API_HTTP_STATUS;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

/** Thrown for environment failures and bugs; expected bad input is a DecodeError value instead. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly context: unknown;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; context?: unknown } = {}) {
    super(`${message} (${code})`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.context = options.context;
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/**
 * A state file (the outbox, the assurance ledger) whose schema is newer than this build's: written by a later
 * release. It is refused, never migrated down or started over; the message names the fix.
 */
export function schemaTooNew(code: ErrorCode, file: string, version: number, known: number): GatewayError {
  return new GatewayError(
    code,
    `${file}: schema version ${version} is newer than this build knows (${known}): it was written by a later panelbridge; run that release or a later one`,
    { context: SCHEMA_TOO_NEW },
  );
}

const SCHEMA_TOO_NEW = Symbol('schema too new');

export function isSchemaTooNew(error: GatewayError): boolean {
  return error.context === SCHEMA_TOO_NEW;
}

/** A thrown value as one line of text; fetch and friends wrap the socket error, so its cause is named too. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
