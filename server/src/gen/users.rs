//! One row of `users.csv`: the distributions of DATASET.md and their text.

use super::distributions::{
    failures_before_success, round_clip, standard_normal, AliasTable, Bernoulli, Categorical,
    GenRng,
};
use super::text::{numbered_labels, Label, RowBuf};
use rand::{Rng, RngCore};

/// The header line of `users.csv`, with its newline.
pub(crate) const USERS_HEADER: &str = "user_id,gender,age,city,district,education,os,\
member_level,product,income,ltv,last_login_days,contract_end_days,is_owner,is_tenant,\
flag_0,flag_1,flag_2,flag_3,flag_4,flag_5,flag_6,flag_7,flag_8,flag_9,interests\n";

/// Gender values and their shares.
const GENDERS: [(&str, f64); 3] = [("m", 0.48), ("f", 0.50), ("u", 0.02)];
/// Education values and their shares.
const EDUCATIONS: [(&str, f64); 6] = [
    ("primary", 0.05),
    ("middle", 0.15),
    ("high", 0.30),
    ("bachelor", 0.38),
    ("master", 0.10),
    ("phd", 0.02),
];
/// OS values and their shares.
const OSES: [(&str, f64); 3] = [("ios", 0.40), ("android", 0.58), ("other", 0.02)];
/// Densities of `flag_0` .. `flag_9`.
const FLAG_DENSITIES: [f64; 10] = [0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7];

/// Number of cities, `c000` .. `c299`.
pub(crate) const NUM_CITIES: usize = 300;
/// Number of districts, `d0000` .. `d1999`.
pub(crate) const NUM_DISTRICTS: usize = 2000;
/// Number of interest labels, `i00` .. `i39`.
pub(crate) const NUM_INTERESTS: usize = 40;
/// Most interests one user holds.
const MAX_INTERESTS: u32 = 8;

/// The user-row distributions and the text of every label, built once per run.
pub(crate) struct UserModel {
    gender: Categorical,
    education: Categorical,
    os: Categorical,
    member_level: Categorical,
    city: AliasTable,
    district: AliasTable,
    interest: AliasTable,
    interest_count: Categorical,
    ltv_nonzero: Bernoulli,
    /// `ln(1 - 0.05)`, for `last_login_days`.
    last_login_ln_q: f64,
    is_owner: Bernoulli,
    is_tenant: Bernoulli,
    flags: [Bernoulli; 10],
    gender_labels: Vec<Label>,
    education_labels: Vec<Label>,
    os_labels: Vec<Label>,
    city_labels: Vec<Label>,
    district_labels: Vec<Label>,
    interest_labels: Vec<Label>,
}

impl UserModel {
    /// Builds the tables.
    pub(crate) fn new() -> Self {
        let weights = |values: &[(&str, f64)]| values.iter().map(|v| v.1).collect::<Vec<_>>();
        let labels = |values: &[(&str, f64)]| values.iter().map(|v| Label::new(v.0)).collect();
        let member_weights: Vec<f64> = (0..6).map(|k| 0.5f64.powi(k)).collect();
        UserModel {
            gender: Categorical::new(&weights(&GENDERS)),
            education: Categorical::new(&weights(&EDUCATIONS)),
            os: Categorical::new(&weights(&OSES)),
            member_level: Categorical::new(&member_weights),
            city: AliasTable::zipf(NUM_CITIES, 1.0),
            district: AliasTable::zipf(NUM_DISTRICTS, 0.8),
            interest: AliasTable::zipf(NUM_INTERESTS, 0.7),
            interest_count: Categorical::poisson_clipped(2.0, MAX_INTERESTS),
            ltv_nonzero: Bernoulli::new(0.4),
            last_login_ln_q: (1.0f64 - 0.05).ln(),
            is_owner: Bernoulli::new(0.07),
            is_tenant: Bernoulli::new(0.30),
            flags: FLAG_DENSITIES.map(Bernoulli::new),
            gender_labels: labels(&GENDERS),
            education_labels: labels(&EDUCATIONS),
            os_labels: labels(&OSES),
            city_labels: numbered_labels("c", 3, NUM_CITIES),
            district_labels: numbered_labels("d", 4, NUM_DISTRICTS),
            interest_labels: numbered_labels("i", 2, NUM_INTERESTS),
        }
    }

    /// Draws one user and appends its row (with newline) to `out`.
    /// `row` is scratch space.
    pub(crate) fn write_user(
        &self,
        rng: &mut GenRng,
        user_id: &Label,
        row: &mut RowBuf,
        out: &mut Vec<u8>,
    ) {
        // Draws happen in column order, except that is_tenant is drawn
        // before contract_end_days, which depends on it, and is_owner.
        let gender = self.gender.sample(rng) as usize;
        let age = round_clip(33.0 + 11.0 * standard_normal(rng), 16, 80);
        let city = self.city.sample(rng) as usize;
        let district = self.district.sample(rng) as usize;
        let education = self.education.sample(rng) as usize;
        let os = self.os.sample(rng) as usize;
        let member_level = self.member_level.sample(rng);
        let product = rng.next_u64() >> 61;
        let income = round_clip((9.5 + 0.8 * standard_normal(rng)).exp(), 0, 1_000_000);
        let ltv = if self.ltv_nonzero.sample(rng) {
            round_clip((7.0 + 1.5 * standard_normal(rng)).exp(), 0, 10_000_000)
        } else {
            0
        };
        let last_login = failures_before_success(rng, self.last_login_ln_q, 365);
        let is_tenant = self.is_tenant.sample(rng);
        let contract_end = if is_tenant {
            Some(rng.gen_range(-100i64..=700))
        } else {
            None
        };
        let is_owner = self.is_owner.sample(rng);
        let mut flags = [false; 10];
        for (flag, dist) in flags.iter_mut().zip(&self.flags) {
            *flag = dist.sample(rng);
        }
        let interests = self.draw_interests(rng);

        row.clear();
        row.label(user_id);
        row.byte(b',');
        row.label(&self.gender_labels[gender]);
        row.byte(b',');
        row.int(age);
        row.byte(b',');
        row.label(&self.city_labels[city]);
        row.byte(b',');
        row.label(&self.district_labels[district]);
        row.byte(b',');
        row.label(&self.education_labels[education]);
        row.byte(b',');
        row.label(&self.os_labels[os]);
        row.byte(b',');
        row.byte(b'0' + member_level as u8);
        row.byte(b',');
        row.byte(b'p');
        row.byte(b'0' + product as u8);
        row.byte(b',');
        row.int(income);
        row.byte(b',');
        row.int(ltv);
        row.byte(b',');
        row.int(last_login as i64);
        row.byte(b',');
        if let Some(days) = contract_end {
            row.int(days);
        }
        let mut bools = *b",0,0,0,0,0,0,0,0,0,0,0,0,";
        for (i, b) in [is_owner, is_tenant].into_iter().chain(flags).enumerate() {
            bools[2 * i + 1] += u8::from(b);
        }
        row.fixed(&bools);
        let mut rest = interests;
        while rest != 0 {
            let label = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            row.label(&self.interest_labels[label]);
            row.byte(b'|');
        }
        if interests != 0 {
            // No separator after the last label.
            row.unpush();
        }
        row.byte(b'\n');
        out.extend_from_slice(row.as_bytes());
    }

    /// The user's interests as a bit set over the labels: a Poisson(2) count
    /// clipped to [0, 8], then that many distinct Zipf(0.7) labels, repeats
    /// rejected.
    fn draw_interests(&self, rng: &mut GenRng) -> u64 {
        let count = self.interest_count.sample(rng);
        let mut set = 0u64;
        let mut held = 0;
        while held < count {
            let bit = 1u64 << self.interest.sample(rng);
            if set & bit == 0 {
                set |= bit;
                held += 1;
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::distributions::block_rng;

    #[test]
    fn header_names_26_columns() {
        assert_eq!(USERS_HEADER.trim_end().split(',').count(), 26);
        assert!(USERS_HEADER.starts_with("user_id,gender,age,"));
        assert!(USERS_HEADER.ends_with("flag_9,interests\n"));
    }

    #[test]
    fn rows_have_26_fields() {
        let model = UserModel::new();
        let mut rng = block_rng(1, 0);
        let mut row = RowBuf::new();
        let mut out = Vec::new();
        for i in 0..1000 {
            model.write_user(&mut rng, &crate::gen::text::user_id(i), &mut row, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert_eq!(line.split(',').count(), 26, "{line}");
        }
    }
}
