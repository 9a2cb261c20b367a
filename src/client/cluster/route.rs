//! Which slot a command goes to: the slot of its key (EVAL/EVALSHA/FCALL:
//! the first key after numkeys; other commands: the first argument), or no
//! slot for keyless commands (PING, SCRIPT LOAD, CLUSTER ..., a script with
//! no key), which any node may answer.

use crate::topology::admin::cluster::key_slot;
use redis::{Arg, Cmd};

/// Where one command must be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The master serving this slot.
    Slot(u16),
    /// Any node (the client picks the one its last command went to, so
    /// that `SCRIPT LOAD` after a `NOSCRIPT` lands where the script is missing).
    Any,
}

/// Commands without a key (their first argument, if any, is not one).
const KEYLESS: &[&[u8]] = &[
    b"ASKING",
    b"AUTH",
    b"CLIENT",
    b"CLUSTER",
    b"COMMAND",
    b"CONFIG",
    b"DBSIZE",
    b"DEBUG",
    b"DISCARD",
    b"ECHO",
    b"EXEC",
    b"FLUSHALL",
    b"FLUSHDB",
    b"FUNCTION",
    b"HELLO",
    b"INFO",
    b"LASTSAVE",
    b"MULTI",
    b"PING",
    b"READONLY",
    b"READWRITE",
    b"ROLE",
    b"SCAN",
    b"SCRIPT",
    b"SELECT",
    b"TIME",
    b"WAIT",
];

/// Commands whose key follows a `numkeys` argument.
const SCRIPTED: &[&[u8]] = &[
    b"EVAL",
    b"EVALSHA",
    b"EVAL_RO",
    b"EVALSHA_RO",
    b"FCALL",
    b"FCALL_RO",
];

fn simple(arg: Option<Arg<&[u8]>>) -> Option<&[u8]> {
    match arg? {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    }
}

/// The route of `cmd` (see the module doc).
pub fn route_of(cmd: &Cmd) -> Route {
    let mut args = cmd.args_iter();
    let Some(name) = simple(args.next()) else {
        return Route::Any;
    };
    let is = |list: &[&[u8]]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    if is(KEYLESS) {
        return Route::Any;
    }
    if is(SCRIPTED) {
        let _script = args.next();
        let numkeys = simple(args.next())
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if numkeys == 0 {
            return Route::Any;
        }
        return simple(args.next()).map_or(Route::Any, |k| Route::Slot(key_slot(k)));
    }
    simple(args.next()).map_or(Route::Any, |k| Route::Slot(key_slot(k)))
}

/// Keys of one request that hash to different slots (Redis's CROSSSLOT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossSlot {
    pub first: u16,
    pub other: u16,
}

/// The one slot every keyed command of `cmds` maps to: `Ok(None)` when
/// none has a key, an error when they span slots.
pub fn common_slot<'a>(cmds: impl Iterator<Item = &'a Cmd>) -> Result<Option<u16>, CrossSlot> {
    let mut slot = None;
    for c in cmds {
        if let Route::Slot(s) = route_of(c) {
            match slot {
                None => slot = Some(s),
                Some(prev) if prev != s => {
                    return Err(CrossSlot {
                        first: prev,
                        other: s,
                    })
                }
                Some(_) => {}
            }
        }
    }
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Script;

    #[test]
    fn commands_route_by_their_first_key() {
        assert_eq!(route_of(redis::cmd("GET").arg("foo")), Route::Slot(12182));
        assert_eq!(
            route_of(redis::cmd("hset").arg("bar").arg("f").arg(1)),
            Route::Slot(5061)
        );
        assert_eq!(
            route_of(redis::cmd("SET").arg("{foo}.x").arg(1)),
            Route::Slot(12182)
        );
        assert_eq!(route_of(&redis::cmd("PING")), Route::Any);
        assert_eq!(
            route_of(redis::cmd("SCRIPT").arg("LOAD").arg("return 1")),
            Route::Any
        );
        assert_eq!(
            route_of(redis::cmd("CLUSTER").arg("KEYSLOT").arg("foo")),
            Route::Any
        );
    }

    #[test]
    fn scripts_route_by_their_first_key() {
        let eval = redis::cmd("EVAL")
            .arg("return 1")
            .arg(2)
            .arg("bar")
            .arg("foo")
            .arg("arg")
            .clone();
        assert_eq!(route_of(&eval), Route::Slot(5061));
        let keyless = redis::cmd("EVALSHA").arg("abc").arg(0).arg("foo").clone();
        assert_eq!(route_of(&keyless), Route::Any);
        // What ScriptInvocation::invoke_async sends: EVALSHA sha numkeys keys.. args..
        let script = Script::new("return redis.call('GET', KEYS[1])");
        let mut inv = script.key("123456789");
        inv.arg("foo");
        let mut pipe = redis::pipe();
        // The invocation's command is private; rebuild the same shape.
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(1)
            .arg("123456789")
            .arg("foo");
        let cmd = pipe.cmd_iter().next().unwrap();
        assert_eq!(route_of(cmd), Route::Slot(12739));
    }

    #[test]
    fn a_common_slot_is_found_or_refused() {
        let mut same = redis::pipe();
        same.cmd("HGET").arg("{7}a").arg("f");
        same.cmd("PING");
        same.cmd("GET").arg("{7}b");
        assert_eq!(common_slot(same.cmd_iter()), Ok(Some(key_slot(b"7"))));
        let mut cross = redis::pipe();
        cross.cmd("GET").arg("foo").cmd("GET").arg("bar");
        assert_eq!(
            common_slot(cross.cmd_iter()),
            Err(CrossSlot {
                first: 12182,
                other: 5061
            })
        );
        assert_eq!(common_slot(redis::pipe().cmd("PING").cmd_iter()), Ok(None));
    }
}
