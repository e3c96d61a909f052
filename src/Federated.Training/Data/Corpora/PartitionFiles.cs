namespace Federated.Training.Data.Corpora;

/// <summary>
/// Writes a partition as JSONL files (<see cref="DomainJsonl"/>) so that users can look at what each virtual client got,
/// or point an experiment at edited files: <c>client-000/train.jsonl</c>, <c>client-000/eval.jsonl</c>, ... and
/// <c>global-heldout.jsonl</c>.
/// </summary>
public static class PartitionFiles
{
    public const string GlobalHeldOutFile = "global-heldout.jsonl";

    public static string ClientDirectory(string directory, int client) => Path.Combine(directory, $"client-{client:D3}");

    public static void Write(FederatedPartition partition, string directory)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(directory);
        foreach (var client in partition.Clients)
        {
            var clientDirectory = ClientDirectory(directory, client.Client);
            DomainJsonl.WriteFile(client.Train, Path.Combine(clientDirectory, "train.jsonl"));
            DomainJsonl.WriteFile(client.Evaluation, Path.Combine(clientDirectory, "eval.jsonl"));
        }
        DomainJsonl.WriteFile(partition.GlobalHeldOut, Path.Combine(directory, GlobalHeldOutFile));
    }
}
