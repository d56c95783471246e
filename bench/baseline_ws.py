"""The baseline for the dashboard bench: a bare kafka-python consumer → a Tornado WebSocket →
a plain HTML page that prepends rows. Run as `python -m bench.baseline_ws PORT BOOTSTRAP TOPIC`.
"""

from __future__ import annotations

import json
import sys
import threading

import tornado.ioloop
import tornado.web
import tornado.websocket
from kafka import KafkaConsumer, TopicPartition

PAGE = """<!doctype html><html><body><table id="rows"><tbody></tbody></table><script>
window.isspanelArrivals = [];
const body = document.querySelector('#rows tbody');
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onmessage = (e) => {
  const r = JSON.parse(e.data);
  const tr = document.createElement('tr');
  tr.className = 'iss-row'; tr.dataset.key = r.timestamp;
  tr.innerHTML = `<td>${r.eventTime}</td><td>${r.latitude.toFixed(4)}</td>` +
                 `<td>${r.longitude.toFixed(4)}</td><td>${r.source}</td>`;
  body.prepend(tr);
  while (body.rows.length > 100) body.deleteRow(-1);
  window.isspanelArrivals.push([r.timestamp, Date.now()]);
};
ws.onopen = () => { document.body.dataset.ready = '1'; };
</script></body></html>"""

CLIENTS: set[tornado.websocket.WebSocketHandler] = set()


class Page(tornado.web.RequestHandler):
    def get(self):
        self.write(PAGE)


class Socket(tornado.websocket.WebSocketHandler):
    def open(self):
        CLIENTS.add(self)

    def on_close(self):
        CLIENTS.discard(self)


def broadcast(text: str) -> None:
    for client in list(CLIENTS):
        client.write_message(text)


def consume(loop: tornado.ioloop.IOLoop, bootstrap: str, topic: str) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=50)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    while True:
        for messages in consumer.poll(timeout_ms=200).values():
            for message in messages:
                try:
                    text = json.dumps(json.loads(message.value))
                except ValueError:
                    continue
                loop.add_callback(broadcast, text)


def main() -> None:
    port, bootstrap, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = tornado.web.Application([(r"/", Page), (r"/ws", Socket)])
    app.listen(port, address="127.0.0.1")
    loop = tornado.ioloop.IOLoop.current()
    threading.Thread(target=consume, args=(loop, bootstrap, topic), daemon=True).start()
    loop.start()


if __name__ == "__main__":
    main()
