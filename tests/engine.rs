//! Numerics of the GGUF engine on the real 0.5B model: a prompt's logits depend only on the
//! prompt, never on how its positions are grouped into forward passes (whole prompt, prefix then
//! rest, one token at a time) or on other sequences in the same batch.

mod common;

use precis::engine::llm::{argmax, Step, StepKind};
use precis::engine::search::{greedy_batch, Job};
use precis::engine::{greedy, ChatModel};

#[test]
fn logits_do_not_depend_on_how_positions_are_grouped_or_batched() {
    let _serial = common::serial();
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let ids = model.tokenizer.encode("Le général a déclaré que 8 000 personnes avaient été évacuées.", false).unwrap();
    let other = model.tokenizer.encode("Il pleut sur Paris depuis trois jours.", false).unwrap();
    assert!(ids.len() > 8 && other.len() > 4);

    // Whole sequence at once, every position's logits.
    let mut full_cache = model.llm.new_cache();
    let kind = StepKind::Prompt { len: ids.len() };
    let all = model.llm.forward_batch(&mut [Step { tokens: &ids, cache: &mut full_cache, kind, all_logits: true }]).unwrap();
    let vocab = model.llm.vocab_size();
    let all = &all[0];
    assert_eq!(all.len(), ids.len() * vocab);
    assert_eq!(full_cache.len(), ids.len());

    // A prefix then the rest; one token at a time: the same bits at every position. (Every
    // position's logits here come from the `all_logits` pass, whose last-layer feed-forward runs
    // on all rows; only the last position is compared when a call wants one row.)
    let last_only = model.llm.forward(&ids, &mut model.llm.new_cache(), kind).unwrap();
    for splits in [vec![4, ids.len()], (1..=ids.len()).collect::<Vec<_>>()] {
        let mut cache = model.llm.new_cache();
        let mut start = 0;
        let mut last = Vec::new();
        for end in splits {
            last = model.llm.forward(&ids[start..end], &mut cache, kind).unwrap();
            start = end;
        }
        assert_eq!(last, last_only);
    }

    // In a batch next to another sequence at other positions: still the same bits, for both.
    let other_kind = StepKind::Prompt { len: other.len() };
    let other_alone = model.llm.forward(&other, &mut model.llm.new_cache(), other_kind).unwrap();
    let mut a = model.llm.new_cache();
    model.llm.forward(&ids[..3], &mut a, kind).unwrap();
    let mut b = model.llm.new_cache();
    let mut c = model.llm.new_cache();
    model.llm.forward(&ids, &mut c, kind).unwrap();
    let next = [argmax(&last_only)];
    let next_alone = model.llm.forward(&next, &mut c.clone(), StepKind::Decode).unwrap();
    let batch = model
        .llm
        .forward_batch(&mut [
            Step { tokens: &ids[3..], cache: &mut a, kind, all_logits: false },
            Step { tokens: &other, cache: &mut b, kind: other_kind, all_logits: false },
            Step { tokens: &next, cache: &mut c, kind: StepKind::Decode, all_logits: false },
        ])
        .unwrap();
    assert_eq!(batch[0], last_only);
    assert_eq!(batch[1], other_alone);
    assert_eq!(batch[2], next_alone);

    // Reusing a truncated cache equals computing the prefix afresh.
    let mut reused = full_cache.clone();
    reused.truncate(5);
    assert_eq!(reused.len(), 5);
    assert_eq!(model.llm.forward(&ids[5..], &mut reused, kind).unwrap(), last_only);
    reused.truncate(0);
    assert!(reused.is_empty());
    assert_eq!(model.llm.forward(&ids, &mut reused, kind).unwrap(), last_only);
    // The all-rows pass saw the same last position, but computed its last feed-forward in a
    // batch of all rows, as llama.cpp does when every position's logits are asked for.
    assert_eq!(argmax(&all[(ids.len() - 1) * vocab..]), argmax(&last_only));
}

#[test]
fn batched_greedy_decoding_equals_decoding_one_by_one() {
    let _serial = common::serial();
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let texts = [
        "Bonjour.",
        "Le ministre a annoncé 3 500 créations de postes dans l'enseignement.",
        "La tempête a privé d'électricité 40 000 foyers en Bretagne, selon Enedis.",
        "Il pleut.",
        "Les négociations reprendront lundi à Bruxelles, a indiqué la présidence.",
    ];
    let prompts: Vec<Vec<u32>> = texts.iter().map(|t| model.prompt(&precis::translate::translation_messages(t)).unwrap()).collect();
    let alone: Vec<Vec<u32>> = prompts.iter().map(|p| model.complete(p, 40, None).unwrap().tokens).collect();
    // Two at a time: sequences join as others finish, mid-decoding of the rest.
    let jobs =
        prompts.iter().map(|p| Job { prompt: p.clone(), cache: model.llm.new_cache(), max_new_tokens: 40, guard: None, enough: None });
    let mut order = Vec::new();
    let batched = greedy_batch(&model.llm, jobs.collect(), 2, |id| model.tokenizer.is_eog(id), |i, _| order.push(i)).unwrap();
    assert_eq!(order.len(), texts.len());
    for (i, ((generation, _), alone)) in batched.iter().zip(&alone).enumerate() {
        assert_eq!(&generation.tokens, alone, "{}", texts[i]);
        assert_eq!(generation.prompt_tokens, prompts[i].len());
    }
}

#[test]
fn greedy_stops_at_end_of_generation_and_respects_the_limit() {
    let _serial = common::serial();
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let prompt = model.prompt(&precis::translate::translation_messages("Bonjour.")).unwrap();
    let mut cache = model.llm.new_cache();
    let done = greedy(&model.llm, &prompt, &mut cache, 64, |id| model.tokenizer.is_eog(id), None).unwrap();
    assert_eq!(done.stop, precis::engine::StopReason::Eog);
    assert!(!done.tokens.is_empty() && done.tokens.iter().all(|&t| !model.tokenizer.is_eog(t)));
    let mut cache = model.llm.new_cache();
    let cut = greedy(&model.llm, &prompt, &mut cache, 1, |id| model.tokenizer.is_eog(id), None).unwrap();
    assert_eq!(cut.tokens, done.tokens[..1]);
    assert_eq!(cut.stop, precis::engine::StopReason::MaxTokens);
}

#[test]
fn prefix_reuse_gives_the_same_greedy_output_as_recompute() {
    let _serial = common::serial();
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let prefix = model.shared_prefix(precis::translate::translation_messages).unwrap();
    // The system prompt and the instruction are shared; the French text is not.
    assert!(prefix.ids.len() > 40, "shared prefix of {} tokens", prefix.ids.len());
    for text in ["Il pleut à Paris.", "Le ministre a annoncé 3 500 créations de postes."] {
        let prompt = model.prompt(&precis::translate::translation_messages(text)).unwrap();
        assert!(prefix.fork(&prompt).is_some());
        let job = model.job_after(&prefix, &prompt, 24, None);
        assert_eq!(job.cache.len(), prefix.ids.len());
        let reused = model.complete_all(vec![job], 1, |_, _| {}).unwrap().remove(0);
        let fresh = model.complete(&prompt, 24, None).unwrap();
        assert_eq!(reused.tokens, fresh.tokens, "{text}");
        assert_eq!(reused.prompt_tokens, prompt.len());
    }
}

#[test]
fn a_prefix_computed_from_another_gives_the_same_greedy_output_as_recompute() {
    use precis::translate::{messages, Kind};
    let _serial = common::serial();
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    // The second translation's prompt shares the system prompt and the examples with the first's.
    let body = model.shared_prefix(|text| messages(Kind::Body, text, &[], true)).unwrap();
    let retry = model.shared_prefix_after(Some(&body), |text| messages(Kind::Retry, text, &[], true)).unwrap();
    let shared = body.ids.iter().zip(&retry.ids).take_while(|(a, b)| a == b).count();
    assert!(shared > 100 && retry.ids.len() > shared, "{shared} of {} and {} tokens", body.ids.len(), retry.ids.len());
    let text = "Le ministre a annoncé 3 500 créations de postes.";
    let prompt = model.prompt(&messages(Kind::Retry, text, &[], true)).unwrap();
    let reused = model.complete_all(vec![model.job_after(&retry, &prompt, 24, None)], 1, |_, _| {}).unwrap().remove(0);
    let fresh = model.complete(&prompt, 24, None).unwrap();
    assert_eq!(reused.tokens, fresh.tokens);
    assert_eq!(reused.logprobs, fresh.logprobs);
}

#[test]
fn speculative_decoding_with_the_small_model_as_draft_equals_plain_greedy() {
    let _serial = common::serial();
    let target = ChatModel::load(&common::model(common::MODEL_1_5B)).unwrap();
    let draft = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let texts = [
        "Le ministre a annoncé 3 500 créations de postes dans l'enseignement.",
        "La tempête a privé d'électricité 40 000 foyers en Bretagne, selon Enedis.",
    ];
    let mut total = precis::engine::search::Speculation::default();
    for text in texts {
        let prompt = target.prompt(&precis::translate::translation_messages(text)).unwrap();
        let plain = target.complete(&prompt, 48, None).unwrap();
        for lookahead in [1, 4] {
            let mut cache = target.llm.new_cache();
            let (fast, stats) = precis::engine::search::greedy_speculative(
                &target.llm,
                &draft.llm,
                &prompt,
                &mut cache,
                48,
                |id| target.tokenizer.is_eog(id),
                None,
                lookahead,
            )
            .unwrap();
            assert_eq!(fast.tokens, plain.tokens, "{text} (lookahead {lookahead})");
            assert_eq!(fast.stop, plain.stop);
            assert!(stats.accepted <= stats.drafted);
            total.drafted += stats.drafted;
            total.accepted += stats.accepted;
        }
    }
    // Same family, same tokenizer: the draft is right most of the time on plain news sentences.
    eprintln!("draft acceptance {}/{}", total.accepted, total.drafted);
    assert!(total.acceptance_rate() > 0.5, "acceptance {}/{}", total.accepted, total.drafted);
}
