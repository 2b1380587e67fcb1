import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Metrics } from "./metrics.ts";

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("metrics: render shows the values of the number fields and labelled counters", async () => {
  const metrics = new Metrics();
  metrics.connectionsOpen = 3;
  metrics.sessionsOpen = 2;
  metrics.usersOnline = 1;
  metrics.framesIn += 5;
  metrics.messagesDelivered += 4;
  metrics.messagesDroppedOffline++;
  metrics.brokerUp = 0;
  metrics.refused("rate_limited");
  metrics.refused("rate_limited");
  metrics.refused("invalid_json");
  metrics.closed(1000);
  metrics.closed(4004);
  metrics.closed(4004);
  const text = await metrics.render();
  assertEquals(sample(text, "layimws_connections_open"), 3);
  assertEquals(sample(text, "layimws_sessions_open"), 2);
  assertEquals(sample(text, "layimws_users_online"), 1);
  assertEquals(sample(text, "layimws_frames_in_total"), 5);
  assertEquals(sample(text, "layimws_messages_delivered_total"), 4);
  assertEquals(sample(text, "layimws_messages_dropped_offline_total"), 1);
  assertEquals(sample(text, "layimws_broker_up"), 0);
  assertEquals(sample(text, 'layimws_frames_refused_total{reason="rate_limited"}'), 2);
  assertEquals(sample(text, 'layimws_frames_refused_total{reason="invalid_json"}'), 1);
  assertEquals(sample(text, 'layimws_closes_total{code="1000"}'), 1);
  assertEquals(sample(text, 'layimws_closes_total{code="4004"}'), 2);
  assertStringIncludes(text, "# TYPE layimws_frames_in_total counter");
  assertStringIncludes(text, "# TYPE layimws_sessions_open gauge");
  assert(sample(text, "process_resident_memory_bytes")! > 0, "process metrics are rendered");
  assertStringIncludes(metrics.contentType, "text/plain");
});

Deno.test("metrics: a later scrape sees later values, gauges can go back to zero", async () => {
  const metrics = new Metrics();
  metrics.sessionsOpen = 4;
  metrics.framesIn = 1;
  await metrics.render();
  metrics.sessionsOpen = 0;
  metrics.framesIn++;
  const text = await metrics.render();
  assertEquals(sample(text, "layimws_sessions_open"), 0);
  assertEquals(sample(text, "layimws_frames_in_total"), 2);
});

Deno.test("metrics: two instances never share state", async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.framesIn = 7;
  a.refused("sender_mismatch");
  a.closed(4005);
  const text = await b.render();
  assertEquals(sample(text, "layimws_frames_in_total"), 0);
  assertEquals(sample(text, 'layimws_frames_refused_total{reason="sender_mismatch"}'), undefined);
  assertEquals(sample(text, 'layimws_closes_total{code="4005"}'), undefined);
  assertEquals(sample(await a.render(), "layimws_frames_in_total"), 7);
});

Deno.test("metrics: each metric family appears once", async () => {
  const text = await new Metrics().render();
  const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
  assertEquals(new Set(types).size, types.length);
});
