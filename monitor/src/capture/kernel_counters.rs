//! Reads the kernel's per-CPU loss counters (`KERNEL_COUNTERS`), summed over CPUs.
use aya::maps::{Map, MapData, MapError, PerCpuArray};
use monitor_common::counter;

pub struct KernelCounters {
    map: PerCpuArray<MapData, u64>,
}

impl KernelCounters {
    pub(super) fn new(map: Map) -> Result<Self, MapError> {
        Ok(Self {
            map: PerCpuArray::try_from(map)?,
        })
    }

    /// `(name, value summed over CPUs)` for every counter.
    pub fn read(&self) -> Result<Vec<(&'static str, u64)>, MapError> {
        (0..counter::COUNT)
            .filter(|&index| counter::NAMES[index as usize] != "unused")
            .map(|index| {
                let per_cpu = self.map.get(&index, 0)?;
                Ok((counter::NAMES[index as usize], per_cpu.iter().sum()))
            })
            .collect()
    }
}
