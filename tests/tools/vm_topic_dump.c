/*
 * vm_topic_dump.c - a test tool: print every message of a Kafka topic, from
 * the beginning to the current end of each partition, one per line as
 * "<partition>\t<offset>\t<key>\t<value>" (newlines in key/value shown as
 * "\n"), then exit 0. Exit 2 if the topic does not exist, 1 on errors. Used
 * by the end-to-end tests to read the dead-letter topic and to search every
 * topic of a job for planted secrets; no consumer group is joined and no
 * offset is committed.
 *
 * usage: vm_topic_dump BROKERS TOPIC [TIMEOUT_MS]
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            fputs("\\n", stdout);
        else if (s[i] == '\t')
            fputs("\\t", stdout);
        else
            putchar(s[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: vm_topic_dump BROKERS TOPIC [TIMEOUT_MS]\n");
        return 1;
    }
    int timeout = argc > 3 ? atoi(argv[3]) : 10000;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "vm-topic-dump", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr)) {
        fprintf(stderr, "vm_topic_dump: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "vm_topic_dump: %s\n", errstr);
        return 1;
    }
    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[2], NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_metadata(rk, 0, t, &md, timeout) != RD_KAFKA_RESP_ERR_NO_ERROR || !md ||
        md->topic_cnt != 1) {
        fprintf(stderr, "vm_topic_dump: no metadata for %s\n", argv[2]);
        goto done;
    }
    if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = 2;
        goto done;
    }
    int np = md->topics[0].partition_cnt;
    int64_t *end = calloc((size_t)np + 1, sizeof *end);
    parts = rd_kafka_topic_partition_list_new(np);
    int remaining = 0;
    for (int i = 0; i < np; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, argv[2], p, &lo, &hi, timeout) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "vm_topic_dump: watermarks of partition %d failed\n", p);
            free(end);
            goto done;
        }
        end[i] = hi;
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(parts, argv[2], p)->offset = lo;
            remaining++;
        }
    }
    if (remaining && rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(end);
        goto done;
    }
    rc = 0;
    while (remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout);
        if (!m) {
            fprintf(stderr, "vm_topic_dump: timed out with %d partition(s) unread\n", remaining);
            rc = 1;
            break;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "vm_topic_dump: %s\n", rd_kafka_message_errstr(m));
                rc = 1;
            }
            rd_kafka_message_destroy(m);
            if (rc)
                break;
            continue;
        }
        int idx = 0;
        while (idx < np && md->topics[0].partitions[idx].id != m->partition)
            idx++;
        printf("%d\t%lld\t", (int)m->partition, (long long)m->offset);
        put(m->key, m->key_len);
        putchar('\t');
        put(m->payload, m->len);
        putchar('\n');
        if (idx < np && m->offset + 1 >= end[idx])
            remaining--;
        rd_kafka_message_destroy(m);
    }
    free(end);
done:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
