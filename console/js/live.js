// Subscriptions over one WebSocket (`/ws`, the graphql-transport-ws protocol), shared by the page.
//
// It connects on the first subscription, sends the token in `connection_init`, answers pings, and
// reconnects with back-off (subscribing again) unless capcom refused the token (close 4403).

export class LiveConnection {
  constructor(url, token, events) {
    this.url = url;
    this.token = token;
    this.events = events;
    this.socket = null;
    this.acknowledged = false;
    this.closedByUs = false;
    this.attempts = 0;
    this.nextId = 1;
    this.subscriptions = new Map();
  }

  /** Starts `query`; `sink.next(payload)` per event, `sink.error(errors)`. Returns the function ending it. */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, sink });
    if (this.acknowledged) this.sendSubscribe(id);
    else this.open();
    return () => {
      if (this.subscriptions.delete(id) && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.retry);
    if (this.socket) this.socket.close(1000, "signed out");
  }

  open() {
    if (this.socket || this.closedByUs) return;
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.send({ type: "connection_init", payload: { authorization: `Bearer ${this.token}` } });
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      this.socket = null;
      this.acknowledged = false;
      if (this.closedByUs) return;
      if (event.code === 4403) {
        this.events.sessionEnded();
        return;
      }
      this.events.disconnected(opened ? `closed (${event.code})` : "refused");
      if (this.subscriptions.size > 0) {
        const delay = Math.min(30_000, 1000 * 2 ** this.attempts++);
        this.retry = setTimeout(() => this.open(), delay);
      }
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  sendSubscribe(id) {
    const { query, variables } = this.subscriptions.get(id);
    this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  receive(message) {
    const subscription = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempts = 0;
        this.events.connected();
        for (const id of this.subscriptions.keys()) this.sendSubscribe(id);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        subscription?.sink.next(message.payload);
        break;
      case "error":
        this.subscriptions.delete(message.id);
        subscription?.sink.error(message.payload);
        break;
      case "complete":
        this.subscriptions.delete(message.id);
        break;
    }
  }
}
