//! PostgreSQL's `hash_bytes_extended` (`src/common/hashfn.c`), ported: what `hashtextextended`
//! computes, so lakemig can hash a value exactly as the server does ([`crate::migrate::checksum`]).

/// PostgreSQL's `hash_bytes_extended` (`src/common/hashfn.c`, unchanged since PostgreSQL 11): Bob
/// Jenkins' lookup3 over `k` with a 64-bit seed, words read little-endian as PostgreSQL does on
/// little-endian machines (a big-endian server computes something else:
/// [`crate::migrate::checksum::probe_sql`] finds out). `hashtextextended(t, seed)` is this over the
/// bytes of `t` (deterministic collations).
pub fn hash_bytes_extended(k: &[u8], seed: u64) -> u64 {
    #[inline(always)]
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    #[inline(always)]
    fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(14));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(11));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(25));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(16));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(4));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(14));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(24));
    }
    let word = |w: &[u8]| u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    // PostgreSQL takes the length as an int and adds it to a uint32.
    let init = 0x9e37_79b9_u32
        .wrapping_add(k.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    let mut chunks = k.chunks_exact(12);
    for w in &mut chunks {
        a = a.wrapping_add(word(&w[0..4]));
        b = b.wrapping_add(word(&w[4..8]));
        c = c.wrapping_add(word(&w[8..12]));
        mix(&mut a, &mut b, &mut c);
    }
    // The last 0..=11 bytes, little-endian into a, b and the top three bytes of c (its lowest byte
    // is reserved for the length).
    let rest = chunks.remainder();
    let mut tail = [0u8; 12];
    tail[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&tail[0..4]));
    b = b.wrapping_add(word(&tail[4..8]));
    c = c.wrapping_add(word(&tail[8..12]) << 8);
    fin(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hashtextextended(s COLLATE "C", seed)` from PostgreSQL 15 (x86-64), every length 0..=30 characters (seed 0) and 0..=25
    /// (seeds -1, 1, i64::MAX): every tail length, one to two whole blocks, non-ASCII bytes.
    const PG_HASHES: &[(&str, i64, i64)] = &[
        ("", -1, -5142811166230430645),
        ("", 0, -6939563903564495251),
        ("", 1, -150071773020461347),
        ("", 9223372036854775807, -4298248173090169092),
        ("Ü", -1, 1989342738747473958),
        ("Ü", 0, 7608062973429023963),
        ("Ü", 1, -441908186905350554),
        ("Ü", 9223372036854775807, -3203844333771721624),
        ("Ün", -1, 5436378531144713793),
        ("Ün", 0, -1852540824065035331),
        ("Ün", 1, -1952151968835357698),
        ("Ün", 9223372036854775807, 5086550670334226415),
        ("Ünï", -1, -9088095522884169919),
        ("Ünï", 0, 6482094532504283523),
        ("Ünï", 1, -7744950851181711015),
        ("Ünï", 9223372036854775807, 3944200520964284647),
        ("Ünïc", -1, 698098993298177107),
        ("Ünïc", 0, 1809777235986501525),
        ("Ünïc", 1, 5884243842764079839),
        ("Ünïc", 9223372036854775807, 760900289512475070),
        ("Ünïco", -1, 1189583719144825851),
        ("Ünïco", 0, 5325828917650369392),
        ("Ünïco", 1, -7928076311788000013),
        ("Ünïco", 9223372036854775807, -1433813117610121832),
        ("Ünïcod", -1, 8499479145978085766),
        ("Ünïcod", 0, 7218404787629294754),
        ("Ünïcod", 1, 1661452773520136664),
        ("Ünïcod", 9223372036854775807, -472747577353990705),
        ("Ünïcode", -1, 1604428451071892696),
        ("Ünïcode", 0, 1247281148279494321),
        ("Ünïcode", 1, -729613566649108167),
        ("Ünïcode", 9223372036854775807, -9137651992217259504),
        ("Ünïcode:", -1, -92135557869032505),
        ("Ünïcode:", 0, -568062859970502963),
        ("Ünïcode:", 1, -3594895080810755951),
        ("Ünïcode:", 9223372036854775807, 906542705029461),
        ("Ünïcode: ", -1, 7486918641247682039),
        ("Ünïcode: ", 0, -4548520231251333583),
        ("Ünïcode: ", 1, -411396785591767648),
        ("Ünïcode: ", 9223372036854775807, 673801259847829815),
        ("Ünïcode: t", -1, 2411698318058403885),
        ("Ünïcode: t", 0, 5348722449451353751),
        ("Ünïcode: t", 1, -6408371363867558338),
        ("Ünïcode: t", 9223372036854775807, 8923731637227137321),
        ("Ünïcode: th", -1, -7487319380913176492),
        ("Ünïcode: th", 0, -5119814725548273341),
        ("Ünïcode: th", 1, -4476191847917248519),
        ("Ünïcode: th", 9223372036854775807, -6072205385314213555),
        ("Ünïcode: the", -1, -2624730399321762990),
        ("Ünïcode: the", 0, 677394641656612623),
        ("Ünïcode: the", 1, 3343291004181934233),
        ("Ünïcode: the", 9223372036854775807, 7972531883890137742),
        ("Ünïcode: the ", -1, 4903626830870741802),
        ("Ünïcode: the ", 0, -5782057700129040602),
        ("Ünïcode: the ", 1, 2978961771322655995),
        ("Ünïcode: the ", 9223372036854775807, -7711600502075648508),
        ("Ünïcode: the q", -1, 5702050102615688119),
        ("Ünïcode: the q", 0, -1567014728027485258),
        ("Ünïcode: the q", 1, 1660092210963486865),
        ("Ünïcode: the q", 9223372036854775807, -1700078599206159709),
        ("Ünïcode: the qu", -1, 673690146215978081),
        ("Ünïcode: the qu", 0, 2091361533340731970),
        ("Ünïcode: the qu", 1, 2432931745935801627),
        ("Ünïcode: the qu", 9223372036854775807, 7264687913717290114),
        ("Ünïcode: the qui", -1, -988747843196155576),
        ("Ünïcode: the qui", 0, -2098887709117418298),
        ("Ünïcode: the qui", 1, 5127830631745581835),
        (
            "Ünïcode: the qui",
            9223372036854775807,
            -7349289391898924810,
        ),
        ("Ünïcode: the quic", -1, -6031349160138038217),
        ("Ünïcode: the quic", 0, -137645497439666875),
        ("Ünïcode: the quic", 1, 6626089720006057479),
        (
            "Ünïcode: the quic",
            9223372036854775807,
            -4350861240994901292,
        ),
        ("Ünïcode: the quick", -1, 5243721435051189586),
        ("Ünïcode: the quick", 0, 4952236744158963488),
        ("Ünïcode: the quick", 1, -1215293605676312797),
        (
            "Ünïcode: the quick",
            9223372036854775807,
            -4299712650920543384,
        ),
        ("Ünïcode: the quick ", -1, -2552881012731970492),
        ("Ünïcode: the quick ", 0, 1536582496491502185),
        ("Ünïcode: the quick ", 1, 6981430030644163104),
        (
            "Ünïcode: the quick ",
            9223372036854775807,
            4162607038730281111,
        ),
        ("Ünïcode: the quick b", -1, -7282642212475907111),
        ("Ünïcode: the quick b", 0, -3393420565114085639),
        ("Ünïcode: the quick b", 1, -2372620638822252529),
        (
            "Ünïcode: the quick b",
            9223372036854775807,
            -4536436568622342990,
        ),
        ("Ünïcode: the quick br", -1, 8682676977258868908),
        ("Ünïcode: the quick br", 0, -4822769751951969503),
        ("Ünïcode: the quick br", 1, -5270692885727427338),
        (
            "Ünïcode: the quick br",
            9223372036854775807,
            1591367552249423232,
        ),
        ("Ünïcode: the quick bro", -1, 7288020822728030273),
        ("Ünïcode: the quick bro", 0, 5586125220871537047),
        ("Ünïcode: the quick bro", 1, 8573053547914459715),
        (
            "Ünïcode: the quick bro",
            9223372036854775807,
            1085536169426027110,
        ),
        ("Ünïcode: the quick brow", -1, 2185982689762860088),
        ("Ünïcode: the quick brow", 0, 8048142059169225467),
        ("Ünïcode: the quick brow", 1, 2921461469992316703),
        (
            "Ünïcode: the quick brow",
            9223372036854775807,
            5901370568992288648,
        ),
        ("Ünïcode: the quick brown", -1, -7636233069005050096),
        ("Ünïcode: the quick brown", 0, 139209149856320994),
        ("Ünïcode: the quick brown", 1, -6918389769932767095),
        (
            "Ünïcode: the quick brown",
            9223372036854775807,
            -3891162535700835785,
        ),
        ("Ünïcode: the quick brown ", -1, -7059971341089099923),
        ("Ünïcode: the quick brown ", 0, -3501965902656199943),
        ("Ünïcode: the quick brown ", 1, 8152030689599695114),
        (
            "Ünïcode: the quick brown ",
            9223372036854775807,
            -7618582048118045913,
        ),
        ("Ünïcode: the quick brown f", 0, 2581463613813192148),
        ("Ünïcode: the quick brown fo", 0, 3434402841650595224),
        ("Ünïcode: the quick brown fox", 0, -7416539810901605509),
        ("Ünïcode: the quick brown fox ", 0, -8865030068378642336),
        ("Ünïcode: the quick brown fox j", 0, -203300740305296511),
    ];

    #[test]
    fn hash_bytes_extended_is_postgres_hashtextextended() {
        for (s, seed, want) in PG_HASHES {
            assert_eq!(
                hash_bytes_extended(s.as_bytes(), *seed as u64) as i64,
                *want,
                "{s:?} seed {seed}"
            );
        }
    }
}
