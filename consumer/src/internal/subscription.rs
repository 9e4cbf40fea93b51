//! Subscription unions and matching (zio-kafka's `Subscription.unionAll` and the stream
//! selection of `EndStreamsBySubscription`).

use crate::kafka::{Subscription, TopicPartition};

/// The union of subscriptions, as zio-kafka computes it: topics with topics, manual with manual,
/// and a pattern only with the same pattern; anything else is an invalid union.
pub fn union_of(subscriptions: &[Subscription]) -> Result<Subscription, String> {
    let mut iter = subscriptions.iter();
    let Some(first) = iter.next() else {
        return Err("no subscription".to_string());
    };
    let mut union = first.clone();
    for next in iter {
        union = match (union, next) {
            (Subscription::Topics(mut topics), Subscription::Topics(more)) => {
                topics.extend(more.iter().cloned());
                Subscription::Topics(topics)
            }
            (Subscription::Manual(mut partitions), Subscription::Manual(more)) => {
                partitions.extend(more.iter().cloned());
                Subscription::Manual(partitions)
            }
            (Subscription::Pattern(a), Subscription::Pattern(b)) if a == *b => {
                Subscription::Pattern(a)
            }
            (left, right) => return Err(format!("cannot combine {left:?} with {right:?}")),
        };
    }
    Ok(union)
}

/// Whether a partition belongs to a subscription.
pub fn subscription_matches(subscription: &Subscription, tp: &TopicPartition) -> bool {
    match subscription {
        Subscription::Topics(topics) => topics.contains(&tp.topic),
        Subscription::Manual(partitions) => partitions.contains(tp),
        Subscription::Pattern(pattern) => crate::pattern::TopicPattern::parse(pattern)
            .is_ok_and(|parsed| parsed.matches(&tp.topic)),
    }
}
