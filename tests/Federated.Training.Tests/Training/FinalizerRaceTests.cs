using Federated.Core.Adapters;
using Federated.Training.Lora;
using Federated.Training.Models;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Training;

/// <summary>
/// Clients train while other threads allocate (the coordinator's grains, the simulator's other client), so a collection can
/// land in any of their TorchSharp calls (see <see cref="UnderCollections"/>); a native object freed there fails a libtorch
/// assert or segfaults, and the process dies.
/// </summary>
[Collection(Name)]
public sealed class FinalizerRaceTests
{
    public const string Name = "Finalizer race (alone)";

    [Fact]
    public void Lora_training_and_evaluation_survive_collections_and_finalizers_running_throughout()
    {
        var (train, heldOut) = LocalTrainerTests.Split();
        using var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 1);
        using var client = new Rounds.ClientRound(model, ByteLevelTokenizer.Pad);
        var task = new LoraTask(["q_proj", "v_proj"], Rank: 4, Alpha: 8, Dropout: 0.05, LocalSteps: 5, BatchSize: 4, LearningRate: 1e-3, BaseModel: null);
        // At least 4 rounds and 10 s: merging the history, the LoRA init, the forward and backward passes, the loss, AdamW, the
        // export and the held-out loss, each many times under a collection. Before the fixes, runs of 30 s failed after 8-14 s
        // (AdamW, RmsNorm's square(), Export's detach().cpu()).
        LoraAdapter? previous = null;
        UnderCollections.Run(round =>
        {
            // Odd rounds merge the last update into the base, even ones restore the base: both ways of MergedHistory.
            var last = previous;
            client.MergeHistory(round % 2 == 1 && last is not null ? [($"round {round - 1}", () => last.Clone())] : []);
            var (update, _) = LoraUpdateTrainer.Train(model, task, train, ByteLevelTokenizer.Pad, seed: round);
            Assert.True(double.IsFinite(client.Evaluate(heldOut.Take(8).ToList(), batchSize: 4, update)));
            previous?.Dispose();
            previous = update;
        }, calls: 4, TimeSpan.FromSeconds(10));
        previous?.Dispose();
    }

    /// <summary>What `fed model merge` and the agent's start do: load a checkpoint, and write one with adapters merged.</summary>
    [Fact]
    public void Checkpoint_loading_and_merging_survive_collections_and_finalizers_running_throughout()
    {
        using var directory = new TempDirectory();
        string baseDir = directory.File("base");
        LoraAdapter adapter;
        using (var model = LlamaForCausalLM.Create(LlamaConfig.Preset("tiny"), seed: 4))
        {
            HfCheckpoint.Save(model, baseDir);
            LoraInjection.Inject(model, ["q_proj", "v_proj"], rank: 4, alpha: 8, seed: 1);
            Lora.LoraTestModel.Train(model); // B != 0: the merge changes the weights
            adapter = LoraInjection.Export(model);
        }
        using (adapter)
            UnderCollections.Run(call =>
            {
                HfCheckpoint.Load(baseDir).Dispose();
                CheckpointMerge.Write(baseDir, [adapter], directory.File($"merged-{call}"));
            }, calls: 4, TimeSpan.FromSeconds(5));
    }
}

[CollectionDefinition(FinalizerRaceTests.Name, DisableParallelization = true)]
public sealed class FinalizerRaceCollection;
