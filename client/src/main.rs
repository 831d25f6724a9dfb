//! `chat-cli`: a terminal chat client. Lines typed are sent to the conversation spoken in (the
//! default room, or the one chosen with `/join` or `/switch`); `/users` lists who is there; `/quit`
//! or the end of input leaves, after every line read has its receipt (or the wait gives up).
//!
//! Exit status: 0 when the session ended by `/quit` or end of input and every line read was
//! accepted; 1 on other errors (bad address, certificates, no server); 2 when the server refused
//! us at sign-in (or the arguments are wrong); 3 when the server ended the session or the
//! connection was lost for good; 4 when some lines read were not accepted (said on stderr with the
//! count; `--json` lists each one as `NotAccepted`) — 4 wins over 3.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use client::{
    Backoff, ClientError, CloseReason, Conversation, Event, Farewell, Identity, IdentityOutcome,
    ServerAddr, Session, SessionConfig, Trust,
    commands::{ConversationCommand, parse_conversation},
    render, split_line,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Exit status when some lines read were not accepted.
const NOT_ALL_ACCEPTED: u8 = 4;
/// Leaving quietly for this long; after it, progress is shown.
const QUIET_LEAVING: Duration = Duration::from_secs(1);
/// How often progress is shown while leaving.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Terminal client for chat-server.
#[derive(Debug, Parser)]
#[command(version, about, after_help = AFTER_HELP)]
struct Args {
    /// Server address, HOST:PORT; for a cluster, several separated by commas, tried in turn on
    /// connecting and on every reconnection.
    #[arg(long, default_value = "localhost:1234")]
    server: String,
    /// Your user name.
    #[arg(long, required_unless_present = "fingerprint")]
    user: Option<String>,
    /// Trust only this CA certificate (PEM) instead of the system store and the local dev CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// End when the connection is lost instead of reconnecting and resuming.
    #[arg(long)]
    no_reconnect: bool,
    /// On leaving, wait at most this many seconds for the receipts of queued lines (default: the
    /// time the queue needs at the server's rate plus 10 s; a server that confirms nothing for
    /// 5 s is given up on sooner).
    #[arg(long, value_name = "SECONDS")]
    leave_wait: Option<u64>,
    /// Your identity: the folder of your key and certificate, made on first use [default:
    /// ~/.local/share/quic-chat/identity]. The key is who you are: keep the folder private.
    #[arg(long, value_name = "DIR")]
    identity: Option<PathBuf>,
    /// A link code from another device of USER (`/link` there): adds this identity to the name.
    #[arg(long, value_name = "CODE")]
    link: Option<String>,
    /// An invite code from an operator, to register a new name on an invite-only server.
    #[arg(long, value_name = "CODE", conflicts_with = "link")]
    invite: Option<String>,
    /// Print your identity's whole fingerprint (making the identity first if needed) and exit:
    /// what `chat-server --operator` takes.
    #[arg(long)]
    fingerprint: bool,
    /// Join this room on start (making it if nobody has) and speak there.
    #[arg(long, value_name = "#ROOM")]
    room: Option<String>,
}

const AFTER_HELP: &str = "\
Lines are sent at the pace the server allows and wait in order meanwhile; a line longer than the
server takes is split at white space. On /quit or end of input chat-cli waits until every line has
its receipt, then leaves.

Rooms and direct messages: /join #room, /part [#room], /rooms, /topic TEXT, /msg NAME TEXT,
/switch #room or /switch NAME (where plain lines go), /users (of the room spoken in). Every printed
line starts with its conversation: [#general], [bob].

Exit status: 0 every line read was accepted; 1 error (address, certificates, no server);
2 refused by the server at sign-in, or bad arguments; 3 the server ended the session or the
connection was lost; 4 some lines read were not accepted (the count is printed).";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-cli: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chat(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat-cli: {e}");
            match e {
                ClientError::Refused(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// A line on its way: where it came from.
struct Sent {
    /// Its line number in the input (parts of a split line share it).
    line: usize,
    text: String,
}

/// What became of each line read.
#[derive(Default)]
struct Fates {
    /// Lines sent, by nonce, until their receipt or refusal.
    pending: HashMap<u64, Sent>,
    accepted: usize,
    /// Line number, nonce, text, why.
    not_accepted: Vec<(usize, Option<u64>, String, String)>,
    sent: usize,
}

impl Fates {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Receipt(line) if self.pending.remove(&line.nonce).is_some() => {
                self.accepted += 1;
            }
            Event::Problem {
                code,
                nonce: Some(nonce),
                detail,
            } => {
                if let Some(sent) = self.pending.remove(nonce) {
                    let why = format!("refused by the server: {code}: {detail}");
                    self.not_accepted
                        .push((sent.line, Some(*nonce), sent.text, why));
                }
            }
            _ => {}
        }
    }

    /// The session is over: whatever has no fate yet was not accepted, for the reason the
    /// farewell (or the close) gives.
    fn settle(&mut self, farewell: Option<&Farewell>, closed: &CloseReason) {
        let why_unsent = farewell
            .and_then(|f| f.gave_up.clone())
            .unwrap_or_else(|| closed.to_string());
        let unconfirmed: Vec<u64> = farewell
            .map(|f| f.unconfirmed.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default();
        let mut left: Vec<_> = self.pending.drain().collect();
        left.sort_by_key(|(nonce, _)| *nonce);
        for (nonce, sent) in left {
            let why = if unconfirmed.contains(&nonce) {
                format!("sent, but no receipt came ({why_unsent})")
            } else {
                format!("not sent ({why_unsent})")
            };
            self.not_accepted
                .push((sent.line, Some(nonce), sent.text, why));
        }
        self.not_accepted
            .sort_by_key(|(line, nonce, ..)| (*line, *nonce));
    }
}

async fn chat(args: Args) -> Result<ExitCode, ClientError> {
    let mut servers = args
        .server
        .split(',')
        .map(str::parse::<ServerAddr>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let server = servers
        .next()
        .ok_or_else(|| ClientError::InvalidAddress(args.server.clone()))?;
    let trust = args.ca.map_or(Trust::Default, Trust::CaFile);
    let backoff = if args.no_reconnect {
        Backoff::never()
    } else {
        Backoff::default()
    };
    let dir = match args.identity.clone().or_else(client::default_identity_dir) {
        Some(dir) => dir,
        None => {
            return Err(ClientError::Tls(
                "no home directory for your identity; pass --identity DIR".into(),
            ));
        }
    };
    let identity = match Identity::load_or_create(&dir) {
        Ok((identity, IdentityOutcome::Created)) => {
            eprintln!(
                "chat-cli: made your identity in {} (key {}); keep that folder private: it is who you are",
                dir.display(),
                identity.fingerprint().short()
            );
            identity
        }
        Ok((identity, IdentityOutcome::Loaded)) => identity,
        Err(e) => return Err(ClientError::Tls(format!("your identity: {e}"))),
    };
    if args.fingerprint {
        println!("{}", identity.fingerprint());
        return Ok(ExitCode::SUCCESS);
    }
    let user = args.user.clone().unwrap_or_default();
    let connected = Session::connect_to_any(
        SessionConfig {
            server,
            user: user.clone(),
            trust,
            identity: std::sync::Arc::new(identity),
            code: args.link.or(args.invite),
        },
        servers.collect(),
        backoff,
    )
    .await;
    let (session, welcome, events) = match connected {
        Ok(connected) => connected,
        Err(ClientError::Refused(reason)) => {
            if let Some(advice) = refusal_advice(&reason, &user) {
                eprintln!("chat-cli: {advice}");
            }
            return Err(ClientError::Refused(reason));
        }
        Err(e) => return Err(e),
    };
    if args.json {
        println!("{}", render::signed_in_json(&welcome));
    } else {
        println!("{}", render::signed_in_text(&welcome));
    }
    let mut talk = Talk {
        current: Conversation::Room(welcome.room.clone()),
        default_room: welcome.room.clone(),
        joining: None,
    };
    if let Some(room) = &args.room {
        talk.join(&session, room);
    }

    let leave_wait = args.leave_wait.map(Duration::from_secs);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    let mut read = 0usize;
    let mut fates = Fates::default();
    let mut told_split = false;
    let mut leaving: Option<(Instant, tokio::task::JoinHandle<Farewell>)> = None;
    let mut progress = tokio::time::interval(Duration::from_millis(250));
    let mut shown_at: Option<Instant> = None;
    let closed = loop {
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let text = match line {
                    Ok(Some(line)) => line,
                    // End of input (or unreadable input): leave as if /quit was typed.
                    Ok(None) | Err(_) => "/quit".to_owned(),
                };
                read += 1;
                match text.trim() {
                    "/quit" => {
                        input_open = false;
                        let session = session.clone();
                        let task = tokio::spawn(async move {
                            match leave_wait {
                                Some(wait) => session.quit_within(wait).await,
                                None => session.quit().await,
                            }
                        });
                        leaving = Some((Instant::now(), task));
                    }
                    "/users" => match &talk.current {
                        Conversation::Room(room) => { let _ = session.list_users_in(room.clone()); }
                        Conversation::Direct(_) => { let _ = session.list_users(); }
                    },
                    typed if parse_conversation(typed).is_some() => {
                        match parse_conversation(typed) {
                            Some(Ok(ConversationCommand::Msg { to, text })) => {
                                fates.sent += 1;
                                match session.say_to(Conversation::Direct(to), text.clone()) {
                                    Ok(nonce) => {
                                        fates.pending.insert(nonce, Sent { line: read, text });
                                    }
                                    Err(e) => fates.not_accepted.push((read, None, text, e.to_string())),
                                }
                            }
                            Some(Ok(command)) => talk.command(&session, command),
                            Some(Err(usage)) => eprintln!("chat-cli: {usage}"),
                            None => {}
                        }
                    }
                    typed if client::commands::parse(typed).is_some() => {
                        match client::commands::parse(typed) {
                            Some(Ok(request)) => { let _ = session.request(request); }
                            Some(Err(usage)) => eprintln!("chat-cli: {usage}"),
                            None => {}
                        }
                    }
                    "" => {}
                    _ => {
                        let longest = session.longest_line();
                        let parts = split_line(&text, longest);
                        if parts.len() > 1 && !told_split {
                            told_split = true;
                            eprintln!(
                                "chat-cli: the server takes lines of at most {longest} bytes: \
                                 longer lines are sent in parts, cut at white space"
                            );
                        }
                        for part in parts {
                            fates.sent += 1;
                            match session.say_to(talk.current.clone(), part.clone()) {
                                Ok(nonce) => {
                                    fates.pending.insert(nonce, Sent { line: read, text: part });
                                }
                                Err(e) => fates.not_accepted.push((read, None, part, e.to_string())),
                            }
                        }
                    }
                }
            },
            _ = progress.tick(), if leaving.is_some() => {
                let Some((since, _)) = &leaving else { continue };
                let left = session.queue().total();
                let due = shown_at.map_or(since.elapsed() >= QUIET_LEAVING, |at| at.elapsed() >= PROGRESS_EVERY);
                if left > 0 && due {
                    if shown_at.is_none() {
                        eprintln!("chat-cli: sending {left} queued line{}…", plural(left));
                    } else {
                        eprintln!("chat-cli: {left} line{} still to confirm…", plural(left));
                    }
                    shown_at = Some(Instant::now());
                }
            }
            event = events.recv() => match event {
                Ok(Event::Closed(reason)) => break reason,
                Ok(event) => {
                    fates.event(&event);
                    talk.event(&event);
                    if args.json {
                        println!("{}", render::json(&event));
                    } else {
                        println!("{}", render::text(&event));
                    }
                }
                Err(_) => break CloseReason::Lost(ClientError::SessionEnded),
            },
        }
    };
    let farewell = match leaving {
        Some((_, task)) => tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    fates.settle(farewell.as_ref(), &closed);
    let failed = fates.not_accepted.len();
    if args.json {
        for (line, nonce, text, why) in &fates.not_accepted {
            println!(
                "{}",
                json!({ "NotAccepted": { "line": line, "nonce": nonce, "text": text, "reason": why } })
            );
        }
        let too_fast = farewell.as_ref().map_or(0, |f| f.too_fast);
        println!(
            "{}",
            json!({ "Summary": {
                "sent": fates.sent,
                "accepted": fates.accepted,
                "not_accepted": failed,
                "too_fast": too_fast,
            }})
        );
        println!("{}", render::closed_json(&closed));
    } else {
        // The first few, so that a long paste into a dead server does not bury the count.
        for (line, _, _, why) in fates.not_accepted.iter().take(10) {
            eprintln!("chat-cli: line {line} not accepted: {why}");
        }
        println!("{}", render::closed_text(&closed));
    }
    if failed > 0 {
        eprintln!(
            "chat-cli: {failed} of {} line{} not accepted",
            fates.sent,
            plural(fates.sent)
        );
        return Ok(ExitCode::from(NOT_ALL_ACCEPTED));
    }
    Ok(match closed {
        CloseReason::Quit => ExitCode::SUCCESS,
        CloseReason::ByServer(_) | CloseReason::Lost(_) => ExitCode::from(3),
    })
}

/// Where plain lines go, and the room being joined to speak in.
struct Talk {
    current: Conversation,
    default_room: String,
    /// A room asked for with `/join` (or `--room`), and where plain lines went before it: lines go
    /// to the room at once (the server handles our frames in order, so a line typed right after
    /// `/join` lands in the room, not where we were), and back if the server refuses the join.
    joining: Option<(String, Conversation)>,
}

impl Talk {
    fn join(&mut self, session: &Session, room: &str) {
        let to = Conversation::Room(room.to_owned());
        eprintln!("chat-cli: plain lines now go to {room}");
        let before = std::mem::replace(&mut self.current, to);
        if same_room(room, &self.default_room) {
            // Everybody is in it already: nothing to ask.
            self.current = Conversation::Room(self.default_room.clone());
            return;
        }
        self.joining = Some((room.to_owned(), before));
        let _ = session.join_room(room);
    }

    fn command(&mut self, session: &Session, command: ConversationCommand) {
        match command {
            ConversationCommand::Join(room) => self.join(session, &room),
            ConversationCommand::Part(room) => match room.or_else(|| self.current_room()) {
                Some(room) => {
                    let _ = session.part_room(room);
                }
                None => eprintln!("chat-cli: /part needs a room: you are in a direct conversation"),
            },
            ConversationCommand::Rooms => {
                let _ = session.list_rooms();
            }
            ConversationCommand::Topic(topic) => match self.current_room() {
                Some(room) => {
                    let _ = session.set_topic(room, topic);
                }
                None => eprintln!("chat-cli: /topic sets a room's topic: /switch to a room first"),
            },
            ConversationCommand::Switch(to) => {
                eprintln!("chat-cli: plain lines now go to {to}");
                self.current = to;
            }
            // Sent by the caller, which tracks the line's fate.
            ConversationCommand::Msg { .. } => {}
        }
    }

    fn current_room(&self) -> Option<String> {
        match &self.current {
            Conversation::Room(room) => Some(room.clone()),
            Conversation::Direct(_) => None,
        }
    }

    /// A room joined is spoken in when we asked for it; a room left is not any more.
    fn event(&mut self, event: &Event) {
        let same = same_room;
        match event {
            Event::RoomJoined(view)
                if self
                    .joining
                    .as_ref()
                    .is_some_and(|(r, _)| same(r, &view.room)) =>
            {
                self.joining = None;
                // The room as the server spells it.
                if self.current_room().is_some_and(|r| same(&r, &view.room)) {
                    self.current = Conversation::Room(view.room.clone());
                }
            }
            Event::RoomLeft { room } if self.current_room().is_some_and(|r| same(&r, room)) => {
                self.current = Conversation::Room(self.default_room.clone());
                eprintln!("chat-cli: plain lines now go to {}", self.default_room);
            }
            Event::Problem { nonce: None, .. } => {
                if let Some((room, before)) = self.joining.take()
                    && self.current_room().is_some_and(|r| same(&r, &room))
                {
                    eprintln!("chat-cli: not in {room}; plain lines go to {before} again");
                    self.current = before;
                }
            }
            _ => {}
        }
    }
}

/// Room names as a user retypes them (the server also folds look-alikes; this is for our own).
fn same_room(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What to do about a refusal at sign-in, beyond its reason.
fn refusal_advice(reason: &client::wire::RefuseReason, user: &str) -> Option<String> {
    use client::wire::RefuseReason as R;
    Some(match reason {
        R::NameOwned => format!(
            "{user} belongs to another identity. Sign in with that identity (--identity DIR), \
             link this device with a code from it (/link there, then --link CODE here), or pick \
             another name"
        ),
        R::Revoked => format!(
            "this device was removed from {user}; link it again with a code from another of its \
             devices (--link CODE), or pick another name"
        ),
        R::InviteRequired => {
            "this server registers new names only with an invite: ask an operator for one and \
             pass it with --invite CODE"
                .to_owned()
        }
        R::BadCode => "the code is unknown, used or expired: ask for a new one".to_owned(),
        _ => return None,
    })
}
