"""The Kafka side: local broker, topics, links, bounded readers.

Today it holds ``history`` (time travel's short-lived reader); the local broker, the topics
and the producer's link move here with the layout change (issue 13).
"""
