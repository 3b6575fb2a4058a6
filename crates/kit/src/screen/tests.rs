//! Screening's unit tests: addresses and networks, puzzles, accounts.

use super::*;

mod limits {
    use ticktak_contracts::screening::BlockedNetwork;

    use super::*;

    fn screen(pairs: &[(&str, &str)]) -> Screen {
        let settings = ScreenSettings::from_env(&Env::from_pairs(pairs)).unwrap();
        Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn route_classes() {
        assert_eq!(RouteClass::of(&Method::GET, "/api/matches"), RouteClass::Reads);
        assert_eq!(RouteClass::of(&Method::POST, "/api/auth/login"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::POST, "/api/me/password"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::GET, "/api/me/export"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::DELETE, "/api/me"), RouteClass::Auth);
        assert_eq!(RouteClass::of(&Method::GET, "/api/me"), RouteClass::Reads);
        assert_eq!(RouteClass::of(&Method::POST, "/api/reservations"), RouteClass::Holds);
        assert_eq!(RouteClass::of(&Method::POST, "/api/orders"), RouteClass::Holds);
        assert_eq!(RouteClass::of(&Method::POST, "/api/payments/x/refund"), RouteClass::Payments);
        assert_eq!(RouteClass::of(&Method::DELETE, "/api/reservations/x"), RouteClass::Writes);
    }

    #[test]
    fn blocked_networks_v4_v6_and_mapped_until_they_expire() {
        let s = screen(&[]);
        let past = Utc::now() - chrono::Duration::seconds(1);
        s.apply(&Policy {
            challenged: vec![],
            blocked: vec![
                BlockedNetwork { cidr: "203.0.113.0/24".into(), reason: "botnet".into(), expires_at: None },
                BlockedNetwork { cidr: "2001:db8::/32".into(), reason: "v6".into(), expires_at: None },
                BlockedNetwork { cidr: "198.51.100.7".into(), reason: "one".into(), expires_at: None },
                BlockedNetwork { cidr: "192.0.2.0/24".into(), reason: "over".into(), expires_at: Some(past) },
            ],
            ..Default::default()
        });
        assert_eq!(s.blocked(ip("203.0.113.9")).as_deref(), Some("botnet"));
        assert_eq!(s.blocked(ip("::ffff:203.0.113.9")).as_deref(), Some("botnet"));
        assert_eq!(s.blocked(ip("2001:db8::1")).as_deref(), Some("v6"));
        assert_eq!(s.blocked(ip("198.51.100.7")).as_deref(), Some("one"));
        assert_eq!(s.blocked(ip("198.51.100.8")), None);
        assert_eq!(s.blocked(ip("192.0.2.1")), None, "expired");
        let refused = s.check(ip("203.0.113.1"), RouteClass::Reads, None).unwrap_err();
        assert_eq!(refused.code(), "blocked");
        let signals = s.take_signals();
        assert_eq!((signals.len(), signals[0].kind, signals[0].count), (1, SignalKind::Blocked, 1));
    }

    #[test]
    fn a_client_past_its_rate_is_refused_with_retry_after_and_others_are_not() {
        let s = screen(&[("RATE_HOLDS_PER_MIN", "20")]);
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.3"));
        // A tenth of a minute's worth at once.
        for _ in 0..2 {
            s.check(a, RouteClass::Holds, None).unwrap();
        }
        match s.check(a, RouteClass::Holds, None) {
            Err(ApiError::TooManyRequests { retry_after_secs }) => assert!((1..=3).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
        s.check(b, RouteClass::Holds, None).unwrap();
        s.check(a, RouteClass::Reads, None).unwrap();
        assert_eq!(s.take_signals().iter().map(|x| x.count).sum::<u64>(), 1);
    }

    #[test]
    fn an_ipv6_client_rotating_addresses_within_its_64_shares_one_quota() {
        let s = screen(&[("RATE_HOLDS_PER_MIN", "20")]);
        for host in 1..=2 {
            s.check(ip(&format!("2001:db8:1:2::{host}")), RouteClass::Holds, None).unwrap();
        }
        let third = s.check(ip("2001:db8:1:2:ffff::3"), RouteClass::Holds, None);
        assert!(matches!(third, Err(ApiError::TooManyRequests { .. })), "{third:?}");
        s.check(ip("2001:db8:1:3::1"), RouteClass::Holds, None).unwrap();
    }

    #[test]
    fn accounts_have_limits_of_their_own_and_scale_zero_lifts_all() {
        // 10 a minute per account: one at once.
        let one = Screened {
            screen: Arc::new(screen(&[("RATE_HOLDS_PER_MIN_PER_ACCOUNT", "10")])),
            ip: ip("127.0.0.1"),
            class: RouteClass::Holds,
            solved: false,
            solution: None,
        };
        one.check_account("alice").unwrap();
        assert!(one.check_account("alice").is_err());
        one.check_account("bob").unwrap();
        let off = screen(&[("RATE_LIMIT_SCALE", "0")]);
        for _ in 0..10_000 {
            off.check(ip("127.0.0.1"), RouteClass::Auth, None).unwrap();
        }
    }
}

mod challenge_tests {
    use ticktak_contracts::screening::ChallengedNetwork;

    use super::*;
    use crate::challenge;

    #[test]
    fn a_challenged_client_passes_with_a_solved_puzzle_once() {
        let settings = ScreenSettings::from_env(&Env::from_pairs(&[])).unwrap();
        let s = Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token");
        s.apply(&Policy {
            blocked: vec![],
            challenged: vec![ChallengedNetwork {
                cidr: "198.51.100.0/24".into(),
                reason: "credential stuffing".into(),
                difficulty: 500,
                expires_at: Utc::now() + chrono::Duration::minutes(5),
            }],
            ..Default::default()
        });
        let suspect: IpAddr = "198.51.100.4".parse().unwrap();
        let refused = s.check(suspect, RouteClass::Auth, None).unwrap_err();
        assert_eq!(refused.code(), "challenge_required");
        assert_eq!(s.challenged(suspect), Some(500));
        let puzzle = s.challenges.issue(500, Utc::now().timestamp());
        let answer = challenge::header_value(&puzzle, challenge::solve(&puzzle).unwrap());
        s.check(suspect, RouteClass::Auth, Some(&answer)).unwrap();
        assert_eq!(s.check(suspect, RouteClass::Auth, Some(&answer)).unwrap_err().code(), "challenge_required");
        // Others are not asked.
        s.check("192.0.2.1".parse().unwrap(), RouteClass::Auth, None).unwrap();
    }
}

mod account_tests {
    use ticktak_contracts::screening::AccountVerdict;

    use super::*;
    use crate::challenge;

    fn verdict(account: &str) -> AccountVerdict {
        AccountVerdict {
            account: account.into(),
            reason: "holds expired unpaid".into(),
            difficulty: 500,
            expires_at: Utc::now() + chrono::Duration::minutes(5),
        }
    }

    #[test]
    fn restricted_accounts_are_held_back_only_when_they_place_holds() {
        let settings = ScreenSettings::from_env(&Env::from_pairs(&[])).unwrap();
        let s = Arc::new(Screen::new("test", &settings, TrustedProxies::default(), "test-internal-token"));
        s.apply(&Policy {
            challenged_accounts: vec![verdict("lazy")],
            blocked_accounts: vec![verdict("hoarder")],
            ..Default::default()
        });
        let request = |class, solution: Option<String>| Screened {
            screen: s.clone(),
            ip: "192.0.2.1".parse().unwrap(),
            class,
            solved: false,
            solution,
        };
        let hold = request(RouteClass::Holds, None);
        assert_eq!(hold.check_account("hoarder").unwrap_err().code(), "blocked");
        assert_eq!(hold.check_account("lazy").unwrap_err().code(), "challenge_required");
        hold.check_account("someone-else").unwrap();
        // Reading, paying and cancelling stay open to them.
        request(RouteClass::Reads, None).check_account("hoarder").unwrap();
        request(RouteClass::Writes, None).check_account("lazy").unwrap();
        let puzzle = s.challenges.issue(500, Utc::now().timestamp());
        let answer = challenge::header_value(&puzzle, challenge::solve(&puzzle).unwrap());
        request(RouteClass::Holds, Some(answer.clone())).check_account("lazy").unwrap();
        assert!(request(RouteClass::Holds, Some(answer)).check_account("lazy").is_err(), "single use");
        let kinds: Vec<SignalKind> = s.take_signals().into_iter().map(|x| x.kind).collect();
        assert!(kinds.contains(&SignalKind::Blocked) && kinds.contains(&SignalKind::ChallengeFailed));
        s.note_hold_expired("lazy");
        let expired = s.take_signals();
        assert_eq!(
            (expired[0].kind, expired[0].ip.as_deref(), expired[0].account.as_deref()),
            (SignalKind::HoldExpired, None, Some("lazy"))
        );
    }
}
