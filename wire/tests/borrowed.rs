//! Frames built from borrowed names are byte for byte the owned frames, so a client cannot tell
//! which the server used.

use proptest::prelude::*;
use wire::{
    ChatMessage, DirectState, Limits, MAX_SERVER_FRAME, RoomState, RoomStateRef, ServerFrame,
    ServerFrameRef, encode,
};

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
        rooms in prop::collection::vec((".{0,33}", ".{0,20}", prop::collection::vec(".{0,32}", 0..50)), 0..4),
        history in prop::collection::vec(message(), 0..5),
        direct in prop::collection::vec((".{0,32}", prop::collection::vec(message(), 0..3)), 0..3),
        numbers in any::<[u32; 7]>(),
    ) {
        let [lines_per_sec, burst, max_line_bytes, max_frame_bytes, strikes_allowed, max_rooms_per_user, max_topic_bytes] = numbers;
        let limits = Limits { lines_per_sec, burst, max_line_bytes, max_frame_bytes, strikes_allowed, max_rooms_per_user, max_topic_bytes };
        let names: Vec<Vec<&str>> = rooms.iter().map(|(_, _, users)| users.iter().map(String::as_str).collect()).collect();
        let borrowed_rooms: Vec<RoomStateRef<'_>> = rooms.iter().zip(&names).map(|((room, topic, _), users)| RoomStateRef { room, topic, users, history: &history }).collect();
        let direct: Vec<DirectState> = direct.into_iter().map(|(with, history)| DirectState { with, history }).collect();
        let borrowed = ServerFrameRef::Welcome { you: &you, rooms: &borrowed_rooms, direct: &direct, limits };
        let owned_rooms: Vec<RoomState> = rooms.iter().map(|(room, topic, users)| RoomState { room: room.clone(), topic: topic.clone(), users: users.clone(), history: history.clone() }).collect();
        let owned = ServerFrame::Welcome { you: you.clone(), rooms: owned_rooms.clone(), direct: direct.clone(), limits };
        prop_assert_eq!(
            encode(&borrowed, MAX_SERVER_FRAME).expect("encodes"),
            encode(&owned, MAX_SERVER_FRAME).expect("encodes")
        );
        for (state, owned) in borrowed_rooms.iter().zip(owned_rooms) {
            prop_assert_eq!(
                encode(&ServerFrameRef::RoomJoined(*state), MAX_SERVER_FRAME).expect("encodes"),
                encode(&ServerFrame::RoomJoined(owned), MAX_SERVER_FRAME).expect("encodes")
            );
        }
    }

    #[test]
    fn room_joined_from_borrowed_names_is_the_owned_room_joined(
        room in ".{0,33}", topic in ".{0,40}", users in prop::collection::vec(".{0,32}", 0..100),
        history in prop::collection::vec(message(), 0..5),
    ) {
        let names: Vec<&str> = users.iter().map(String::as_str).collect();
        let borrowed = ServerFrameRef::RoomJoined(RoomStateRef { room: &room, topic: &topic, users: &names, history: &history });
        let owned = ServerFrame::RoomJoined(RoomState { room: room.clone(), topic: topic.clone(), users: users.clone(), history: history.clone() });
        prop_assert_eq!(
            encode(&borrowed, MAX_SERVER_FRAME).expect("encodes"),
            encode(&owned, MAX_SERVER_FRAME).expect("encodes")
        );
    }

    #[test]
    fn users_from_borrowed_names_is_the_owned_users(room in ".{0,33}", list in prop::collection::vec(".{0,32}", 0..200)) {
        let names: Vec<&str> = list.iter().map(String::as_str).collect();
        prop_assert_eq!(
            encode(&ServerFrameRef::Users { room: &room, list: &names }, MAX_SERVER_FRAME).expect("encodes"),
            encode(&ServerFrame::Users { room: room.clone(), list: list.clone() }, MAX_SERVER_FRAME).expect("encodes")
        );
    }
}
