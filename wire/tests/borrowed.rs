//! Frames built from borrowed names are byte for byte the owned frames, so a client cannot tell
//! which the server used.

use proptest::prelude::*;
use wire::{ChatMessage, Limits, MAX_SERVER_FRAME, ServerFrame, ServerFrameRef, encode};

fn message() -> impl Strategy<Value = ChatMessage> {
    (
        any::<u64>(),
        ".{0,12}",
        any::<u64>(),
        ".{0,40}",
        any::<u64>(),
    )
        .prop_map(|(id, from, nonce, text, at_ms)| ChatMessage {
            id,
            from,
            nonce,
            text,
            at_ms,
        })
}

proptest! {
    #[test]
    fn welcome_from_borrowed_names_is_the_owned_welcome(
        you in ".{0,32}",
        users in prop::collection::vec(".{0,32}", 0..200),
        history in prop::collection::vec(message(), 0..5),
        numbers in any::<[u32; 5]>(),
    ) {
        let [lines_per_sec, burst, max_line_bytes, max_frame_bytes, strikes_allowed] = numbers;
        let limits = Limits { lines_per_sec, burst, max_line_bytes, max_frame_bytes, strikes_allowed };
        let names: Vec<&str> = users.iter().map(String::as_str).collect();
        let borrowed = ServerFrameRef::Welcome { you: &you, users: &names, history: &history, limits };
        let owned = ServerFrame::Welcome { you: you.clone(), users: users.clone(), history: history.clone(), limits };
        prop_assert_eq!(
            encode(&borrowed, MAX_SERVER_FRAME).expect("encodes"),
            encode(&owned, MAX_SERVER_FRAME).expect("encodes")
        );
    }

    #[test]
    fn users_from_borrowed_names_is_the_owned_users(list in prop::collection::vec(".{0,32}", 0..200)) {
        let names: Vec<&str> = list.iter().map(String::as_str).collect();
        prop_assert_eq!(
            encode(&ServerFrameRef::Users { list: &names }, MAX_SERVER_FRAME).expect("encodes"),
            encode(&ServerFrame::Users { list: list.clone() }, MAX_SERVER_FRAME).expect("encodes")
        );
    }
}
