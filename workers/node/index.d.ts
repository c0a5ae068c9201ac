// Type declarations of iogate-worker, shaped like socket.io's own (4.8):
// Worker<ListenEvents, EmitEvents, ServerSideEvents, SocketData> is typed
// as socket.io's Server / Namespace, Socket as its server-side Socket, so
// event maps written for socket.io work unchanged.  Checked by
// test/package.test.js (tsc --noEmit over a typed example).
/// <reference types="node" />
import { EventEmitter } from 'node:events';

/** Maps event names to the type of their listener. */
export interface EventsMap {
  [event: string]: any;
}

/** Used when no map is given: every name, any arguments. */
export interface DefaultEventsMap {
  [event: string]: (...args: any[]) => void;
}

export type EventNames<Map extends EventsMap> = keyof Map & string;
export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>;

type Last<T extends any[]> = T extends [...infer _H, infer L] ? L : any;
type AllButLast<T extends any[]> = T extends [...infer H, any] ? H : any[];
type FirstArg<T> = T extends (arg: infer A, ...rest: any[]) => any ? A : any;
/** The value an emitWithAck resolves with: the first argument of the event's acknowledgement callback. */
export type AckResult<Map extends EventsMap, Ev extends EventNames<Map>> = FirstArg<Last<EventParams<Map, Ev>>>;

/** With timeout(ms), acknowledgement callbacks get an Error first (null when the client answered). */
type WithTimeoutError<P extends any[]> = {
  [K in keyof P]: P[K] extends (...args: infer A) => infer R ? (err: Error | null, ...args: A) => R : P[K];
};
export type DecorateAcknowledgements<E extends EventsMap> = {
  [K in keyof E]: E[K] extends (...args: infer P) => infer R ? (...args: WithTimeoutError<P>) => R : E[K];
};

type ListenerResult = void | Promise<void>;
type Fallback<T> = [T] extends [never] ? (...args: any[]) => ListenerResult : T;
type ReservedOrUserListener<R extends EventsMap, U extends EventsMap, Ev> = Fallback<
  Ev extends keyof R ? R[Ev] : Ev extends keyof U ? (...args: Parameters<U[Ev]>) => ListenerResult : never
>;

export type Room = string;
export type SocketId = string;

/** Reasons of `disconnecting` / `disconnect` (ipc/PROTOCOL.md rule 19). */
export type DisconnectReason =
  | 'client namespace disconnect'
  | 'server namespace disconnect'
  | 'server shutting down'
  | 'ping timeout'
  | 'transport close'
  | 'transport error'
  | 'parse error'
  | 'forced close'
  | 'forced server close';

/** An error given to next(): its message and data reach the client's connect_error. */
export interface ExtendedError extends Error {
  data?: any;
}

/** socket.handshake, exactly the keys socket.io gives. */
export interface Handshake {
  headers: Record<string, string | string[] | undefined>;
  time: string;
  address: string;
  xdomain: boolean;
  secure: boolean;
  issued: number;
  url: string;
  query: Record<string, string | string[] | undefined>;
  auth: { [key: string]: any };
}

/** socket.request: the part of the handshake's HTTP request a worker can know. */
export interface HandshakeRequest {
  method: 'GET';
  url: string;
  headers: Record<string, string | string[] | undefined>;
  httpVersion: string;
  connection: { remoteAddress: string; encrypted: boolean };
  socket: { remoteAddress: string; encrypted: boolean };
  _query: Record<string, string | string[] | undefined>;
}

export type ConnEventName = 'upgrade' | 'packet' | 'packetCreate' | 'drain' | 'close';

/** socket.conn: the underlying connection, with the gateway's CONN notices as events. */
export declare class Conn extends EventEmitter {
  transport: { name: 'polling' | 'websocket' | 'webtransport' | string };
  readonly protocol: 4;
  readonly upgrading: boolean;
  readonly upgraded: boolean;
  readonly remoteAddress: string;
  readonly readyState: 'open' | 'closed';
  readonly request: HandshakeRequest;
  on(ev: 'upgrade', listener: (transport: { name: string }) => ListenerResult): this;
  on(ev: 'packet' | 'packetCreate', listener: (packet: { type: string }) => ListenerResult): this;
  on(ev: 'drain', listener: (meta: object) => ListenerResult): this;
  on(ev: 'close', listener: (reason: string) => ListenerResult): this;
  on(ev: string | symbol, listener: (...args: any[]) => void): this;
}

interface SocketReservedEvents {
  disconnect: (reason: DisconnectReason) => ListenerResult;
  disconnecting: (reason: DisconnectReason) => ListenerResult;
  error: (err: Error) => ListenerResult;
}

type AnyListener = (event: string, ...args: any[]) => ListenerResult;

/** Emits with a timeout: callbacks get (err, ...args); emitWithAck rejects when the time is up. */
export interface TimeoutSocket<EmitEvents extends EventsMap> {
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<DecorateAcknowledgements<EmitEvents>, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: AllButLast<EventParams<EmitEvents, Ev>>): Promise<AckResult<EmitEvents, Ev>>;
}

/** socket.io's in-memory Adapter as an application sees it: rooms, sids and their events. */
export declare class Adapter extends EventEmitter {
  readonly rooms: Map<Room, Set<string>>;
  readonly sids: Map<string, Set<Room>>;
  on(event: 'create-room' | 'delete-room', listener: (room: Room) => void): this;
  on(event: 'join-room' | 'leave-room', listener: (room: Room, id: string) => void): this;
}

/** Selectors of a broadcast: rooms, except, flags (socket.io's BroadcastOperator). */
export declare class BroadcastOperator<EmitEvents extends EventsMap, SocketData = any> {
  readonly rooms: Set<Room>;
  readonly exceptRooms: Set<Room>;
  to(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  readonly volatile: BroadcastOperator<EmitEvents, SocketData>;
  /** Exact: a worker is the only server of its namespace. */
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  /** Throws: the gateway decides compression. */
  compress(compress: boolean): never;
  /** Broadcast acknowledgements (PROTOCOL.md rule 25a): emit(ev, ...args, (err, responses) => …) after timeout(ms). */
  timeout(ms: number): BroadcastOperator<EmitEvents, SocketData>;
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emit(ev: string, ...args: any[]): boolean;
  /** The first ack argument of every receiver; rejects at the timeout. */
  emitWithAck(ev: string, ...args: any[]): Promise<any[]>;
  send(...args: any[]): boolean;
  write(...args: any[]): boolean;
  fetchSockets(): Promise<Socket<DefaultEventsMap, EmitEvents, DefaultEventsMap, SocketData>[]>;
  socketsJoin(room: Room | Room[]): void;
  socketsLeave(room: Room | Room[]): void;
  disconnectSockets(close?: boolean): void;
}

export declare class Socket<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = DefaultEventsMap,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends EventEmitter {
  readonly id: SocketId;
  readonly nsp: Worker<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly handshake: Handshake;
  readonly request: HandshakeRequest;
  readonly conn: Conn;
  readonly client: { conn: Conn; request: HandshakeRequest };
  readonly rooms: Set<Room>;
  data: SocketData;
  readonly recovered: boolean;
  /** Its client recovered it after losing its transport (connection state recovery, PROTOCOL.md rule 16a); `recovered` is then true too. */
  readonly restored: boolean;
  readonly connected: boolean;
  readonly disconnected: boolean;

  on<Ev extends keyof SocketReservedEvents | EventNames<ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEvents, ListenEvents, Ev>,
  ): this;
  once<Ev extends keyof SocketReservedEvents | EventNames<ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEvents, ListenEvents, Ev>,
  ): this;
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: AllButLast<EventParams<EmitEvents, Ev>>): Promise<AckResult<EmitEvents, Ev>>;
  timeout(ms: number): TimeoutSocket<EmitEvents>;
  send(...args: any[]): this;
  write(...args: any[]): this;
  readonly volatile: this;
  /** Exact: a worker is the only server of its namespace. */
  readonly local: this;
  /** Throws: the gateway decides compression. */
  compress(compress: boolean): never;
  readonly broadcast: BroadcastOperator<EmitEvents, SocketData>;
  to(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  join(rooms: Room | Room[]): void;
  leave(rooms: Room | Room[]): void;
  use(fn: (event: [string, ...any[]], next: (err?: Error) => void) => ListenerResult): this;
  onAny(listener: AnyListener): this;
  prependAny(listener: AnyListener): this;
  offAny(listener?: AnyListener): this;
  listenersAny(): AnyListener[];
  onAnyOutgoing(listener: AnyListener): this;
  prependAnyOutgoing(listener: AnyListener): this;
  offAnyOutgoing(listener?: AnyListener): this;
  listenersAnyOutgoing(): AnyListener[];
  disconnect(close?: boolean): this;
}

export interface WorkerOptions {
  /** Gateway endpoint(s), comma-separated; default $IOGATE_ENDPOINT. */
  endpoint?: string;
  /** Namespace served; default $IOGATE_NAMESPACE, else "/". */
  namespace?: string;
  /** The gateway's Z85 public key (CURVE); default $IOGATE_CURVE_SERVERKEY. */
  curveServerKey?: string;
  /** Conn notices wanted besides "upgrade". */
  connEvents?: ConnEventName[];
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  autoStart?: boolean;
  handleSignals?: boolean;
  exitWithParent?: boolean;
  /** Handshake admission (gateway `--admission NSP`, PROTOCOL.md rule 39):
   * socket.io's allowRequest signature. */
  allowRequest?: (req: AdmissionRequest, callback: (err: string | null | undefined, success: boolean) => void) => void;
}

/** What allowRequest receives: the shape of socket.io's http.IncomingMessage
 * that admission code reads. */
export interface AdmissionRequest {
  method: 'GET';
  url: string;
  headers: Record<string, string>;
  _query: Record<string, string | string[]>;
  query: Record<string, string | string[]>;
  socket: { remoteAddress: string; encrypted: boolean };
  connection: { remoteAddress: string; encrypted: boolean };
  handshake: Record<string, unknown>;
}

export interface ReadyInfo {
  gateway: string | null;
  heartbeatMs: number;
  endpoint: string;
}

export declare class Worker<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = DefaultEventsMap,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends EventEmitter {
  constructor(opts?: WorkerOptions);
  readonly name: string;
  readonly endpoint: string;
  readonly endpoints: string[];
  readonly connected: boolean;
  readonly sockets: Map<SocketId, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>;

  on(ev: 'connection' | 'connect', listener: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => ListenerResult): this;
  on(ev: 'ready', listener: (info: ReadyInfo) => ListenerResult): this;
  on(ev: 'gatewayLost', listener: (why: string, endpoint: string) => ListenerResult): this;
  /** Every gateway has said BYE (PROTOCOL.md rule 15): the worker has closed itself. */
  on(ev: 'close', listener: (reason: string) => ListenerResult): this;
  once(ev: 'connection' | 'connect', listener: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => ListenerResult): this;
  once(ev: 'ready', listener: (info: ReadyInfo) => ListenerResult): this;
  once(ev: 'gatewayLost', listener: (why: string, endpoint: string) => ListenerResult): this;

  use(
    fn: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, next: (err?: ExtendedError) => void) => ListenerResult,
  ): this;
  of(name: string): this;
  to(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: Room | Room[]): BroadcastOperator<EmitEvents, SocketData>;
  readonly volatile: BroadcastOperator<EmitEvents, SocketData>;
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  compress(compress: boolean): never;
  timeout(ms: number): BroadcastOperator<EmitEvents, SocketData>;
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  send(...args: any[]): this;
  write(...args: any[]): this;
  fetchSockets(): Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]>;
  socketsJoin(room: Room | Room[]): void;
  socketsLeave(room: Room | Room[]): void;
  disconnectSockets(close?: boolean): void;
  /** To the other worker processes of the namespace (PROTOCOL.md rule 25b); a callback last gets (err, responses) within 5000 ms. */
  serverSideEmit<Ev extends EventNames<ServerSideEvents>>(ev: Ev, ...args: EventParams<ServerSideEvents, Ev>): boolean;
  serverSideEmit(ev: string, ...args: any[]): boolean;
  serverSideEmitWithAck(ev: string, ...args: any[]): Promise<any[]>;
  /** The rooms of this worker's sockets and their events (create-room, join-room, leave-room, delete-room). */
  readonly adapter: Adapter;
  start(): this;
  close(opts?: { grace?: number }): Promise<void>;
}

/** socket.io's name for the same class. */
export { Worker as Server };

export declare const RESERVED_EVENTS: ReadonlySet<string>;
export declare const PROTOCOL_VERSION: number;
export declare const codec: any;
