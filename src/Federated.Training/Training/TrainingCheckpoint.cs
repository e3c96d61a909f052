using System.Text;
using System.Text.Json;
using Federated.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Federated.Training.Training;

/// <summary>
/// Where <see cref="LocalTrainer"/> saves its state, so that a process restarted mid-training continues at the last
/// saved step instead of starting over: the trained parameters, AdamW's moments, the dropout generator and the position
/// in the data, in one file replaced durably (<see cref="DurableFile"/>). Resuming gives exactly the parameters of an uninterrupted run on the
/// CPU, whichever step was saved last (GPU kernels are not deterministic to begin with).
/// </summary>
/// <param name="Path">The checkpoint file.</param>
/// <param name="Interval">Time between saves; zero saves after every step.</param>
/// <param name="RunIdentity">
/// What must match for a saved state to be resumed, from the caller (an agent: federation, round, plan, merged globals);
/// the trainer adds its options and the parameters' shapes. A file that does not match, or cannot be read, is ignored.
/// </param>
public sealed record TrainingCheckpoint(string Path, TimeSpan Interval, string RunIdentity)
{
    static readonly byte[] Magic = "FEDTRAIN2"u8.ToArray();

    /// <summary>Where a run stood after an optimiser step.</summary>
    internal sealed record Position(string Identity, int Step, int Epoch, int MicroBatchesIntoEpoch, double FirstLoss, double LastLoss, long Tokens, double Seconds);

    internal void Save(Position position, IReadOnlyList<Parameter> parameters, AdamWOptimizer optimizer, Generator dropout) =>
        DurableFile.Write(Path, file =>
        {
            using var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(JsonSerializer.Serialize(position));
            foreach (var parameter in parameters) parameter.Save(writer);
            optimizer.Save(writer);
            using (var rng = dropout.get_state()) rng.Save(writer);
            writer.Flush();
        });

    /// <summary>Restores a saved state of the same run into the parameters, the optimiser and the generator; null when there is none.</summary>
    internal Position? TryRestore(string identity, IReadOnlyList<Parameter> parameters, AdamWOptimizer optimizer, Generator dropout)
    {
        if (!File.Exists(Path)) return null;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(Path), Encoding.UTF8);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) return null;
            var position = JsonSerializer.Deserialize<Position>(reader.ReadString());
            if (position is null || position.Identity != identity) return null;
            // Into copies first: a file that breaks off half-way must not leave the run half restored.
            var values = parameters.Select(p => Tensor.Load(reader)).ToList();
            try
            {
                if (values.Zip(parameters).Any(v => v.First.dtype != v.Second.dtype || !v.First.shape.SequenceEqual(v.Second.shape))) return null;
                optimizer.Load(reader);
                using var rng = Tensor.Load(reader);
                using (no_grad())
                    foreach (var (value, parameter) in values.Zip(parameters)) parameter.copy_(value);
                dropout.set_state(rng);
                return position;
            }
            finally
            {
                foreach (var value in values) value.Dispose();
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or InvalidDataException or JsonException or ArgumentException
            or FormatException or System.Runtime.InteropServices.ExternalException)
        {
            return null;
        }
    }

    /// <summary>The trainer's part of a run's identity: everything that changes what the steps compute.</summary>
    internal string Identity(TrainerOptions options, int totalSteps, IReadOnlyList<Parameter> parameters) =>
        $"{RunIdentity}|{options}|steps={totalSteps}|{string.Join(";", parameters.Select(p => $"{p.dtype}[{string.Join(",", p.shape)}]"))}";
}
